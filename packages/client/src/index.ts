export * from './api-error.js';
export * from './centroid-client.js';
