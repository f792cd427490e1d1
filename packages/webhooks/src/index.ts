export * from './address-classes.js';
export * from './address-guard.js';
export * from './deliver-webhook.js';
export * from './post-webhook.js';
export * from './retry-delay.js';
export * from './signature.js';
