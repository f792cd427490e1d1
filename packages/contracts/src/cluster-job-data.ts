// The data of a BullMQ job on the `cluster` queue. It crosses from the API to the worker
// through Redis, where it is stored in clear, so it carries file references and no secrets.
import { z } from 'zod';

export const StoredFileSchema = z.object({
  /** Absolute path of the upload on the artifact store's disk. */
  path: z.string().min(1),
  /** Name the client gave the file. */
  filename: z.string(),
});
export type StoredFile = z.infer<typeof StoredFileSchema>;

export const ClusterJobDataSchema = z.object({
  /** Id of the job record; also the BullMQ job id. */
  jobId: z.string().min(1),
  model: StoredFileSchema,
  /** The NPZ dataset, or null for a data-free job. */
  dataset: StoredFileSchema.nullable(),
});
export type ClusterJobData = z.infer<typeof ClusterJobDataSchema>;
