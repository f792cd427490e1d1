// One page of `GET /v1/jobs`, newest first.
import { z } from 'zod';
import { JobSchema } from './job.js';

/** Page size of `GET /v1/jobs` when the request names none. */
export const DEFAULT_JOB_PAGE_SIZE = 20;
/** Largest page size that `GET /v1/jobs` accepts. */
export const MAX_JOB_PAGE_SIZE = 100;

export const JobPageSchema = z.object({
  jobs: z.array(JobSchema),
  /** Opaque cursor for the next page; null on the last page. */
  next_cursor: z.string().nullable(),
});
export type JobPage = z.infer<typeof JobPageSchema>;
