export * from './errors.js';
export * from './params.js';
export * from './job.js';
export * from './problem.js';
export * from './webhook.js';
export * from './validation.js';
