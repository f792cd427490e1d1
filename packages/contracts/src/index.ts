export * from './errors.js';
export * from './params.js';
export * from './job.js';
export * from './problem.js';
export * from './webhook.js';
export * from './validation.js';
export * from './cluster-job-data.js';
export * from './job-page.js';
