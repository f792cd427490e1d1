// Preloaded with `node --import` to run a test file on the backend that CENTROID_BACKEND names,
// so the engine's tests can run on the native backend as well as on the default `cpu`.
import { selectBackend } from '../src/backend.js';

if (process.env.CENTROID_BACKEND) await selectBackend();
