// Reading and writing model files and datasets: Keras HDF5 models, Keras 3 `.keras`
// archives, TF.js layers models, TF.js models built from them, NumPy arrays, and size
// measurement.
export { readKerasH5 } from './keras-h5/read.js';
export { writeKerasH5 } from './keras-h5/write.js';
export { readKerasArchive } from './keras-archive/read.js';
export { writeKerasArchive } from './keras-archive/write.js';
export { readTfjsModel } from './tfjs/read.js';
export { packTfjsModel, unpackTfjsModel, writeTfjsModel } from './tfjs/write.js';
export { ZipStreamWriter } from './archive/zip-stream.js';
export {
  canWriteFormat,
  describeFormat,
  detectModelFormat,
  MODEL_ARTIFACT_NAMES,
  MODEL_CONTENT_TYPES,
  outputFormatProblem,
  readModel,
  writeModel,
} from './model-file.js';
export { toLayersModel } from './keras-h5/to-layers-model.js';
export { inspectModelFile } from './inspect.js';
export { readNpy } from './npy.js';
export { readNpz, readNpzArrayNames, DEFAULT_MAX_EXPANDED_BYTES } from './npz.js';
export { NpzWriter, packNpyFiles } from './npz-writer.js';
export { measureFile, gzipFile } from './size.js';

export type { KerasModelConfig, KerasModelFile, TrainingConfig, WeightDtype, WeightEntry } from './keras-h5/types.js';
export type { WriteKerasH5Result, WriteWarning } from './keras-h5/write.js';
export type { WeightBinding } from './keras-h5/to-layers-model.js';
export type { KerasArchiveFile, ModelFile, ModelFormat, TfjsModelFile, TfjsWeightGroup, TfjsWeightSpec } from './model-types.js';
export type { ReadKerasArchiveOptions } from './keras-archive/read.js';
export type { ReadModelOptions } from './model-file.js';
export type { ArchiveLimits } from './archive/model-archive.js';
export type { IsolationOptions } from './keras-h5/isolated.js';
export type { ModelFileSummary, ModelInspection } from './inspect.js';
export type { NdArray, NdDtype, NdTypedArray } from './npy.js';
export type { NdArrayInfo, ReadNpzOptions } from './npz.js';
export type { NpyFileSource, NpzChunkSink } from './npz-writer.js';
export type { FileSize } from './size.js';
