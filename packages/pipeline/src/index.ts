export * from './types.js';
export { runPipeline } from './run-pipeline.js';
export { prepareDataset, type DatasetArray, type PreparedDataset } from './prepare-dataset.js';
