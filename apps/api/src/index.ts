export * from './app.js';
export * from './byte-range.js';
export * from './dependencies.js';
export * from './job-submission.js';
export * from './model-check.js';
export * from './dataset-check.js';
export * from './logger-options.js';
export { createSharedMetricsReader, formatSharedMetrics, type SharedMetrics } from './routes/metrics.js';
