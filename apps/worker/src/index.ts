export * from './child-runner.js';
export * from './cluster-job-processor.js';
export * from './config.js';
export * from './start-worker.js';
