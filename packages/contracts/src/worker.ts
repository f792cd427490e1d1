// The record that each worker publishes about itself while it runs, as GET /readyz lists it.
import { z } from 'zod';
import { BackendSchema } from './job.js';

export const WorkerRecordSchema = z.object({
  /** Unique per worker process: host name, process id and a random suffix. */
  id: z.string(),
  hostname: z.string(),
  pid: z.number().int(),
  /** TensorFlow.js backend that the worker's pipelines run on, or null when the worker did not report one. */
  backend: BackendSchema.nullable(),
  /** Jobs the worker runs at once. */
  concurrency: z.number().int(),
  started_at: z.string(),
  /** Time of the heartbeat that wrote this record. */
  heartbeat_at: z.string(),
});
export type WorkerRecord = z.infer<typeof WorkerRecordSchema>;
