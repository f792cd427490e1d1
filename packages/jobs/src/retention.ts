// Deletion of finished jobs after the retention period: their artifacts first, then their
// records, so that an interrupted sweep leaves a record that the next sweep deletes, never
// files that no record points to.
import type { ArtifactStore } from './artifact-store.js';
import type { JobStore } from './job-store.js';

/** Time a finished job and its artifacts are kept when none is configured: 7 days. */
export const DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000;

export interface SweepOptions {
  store: JobStore;
  artifacts: Pick<ArtifactStore, 'removeArtifacts' | 'removeUploads'>;
  /** Jobs that finished at least this long ago are deleted. */
  retentionMs: number;
  /** @defaultValue the current time */
  now?: Date;
  /** Jobs read from Redis per request. @defaultValue 200 */
  batchSize?: number;
}

/**
 * Deletes every job that finished at least `retentionMs` before `now`, with its files, and
 * returns their ids. Jobs still queued or running are kept however old they are. Running it
 * on several workers at once is safe, because each deletion can be repeated.
 */
export async function sweepExpiredJobs(options: SweepOptions): Promise<string[]> {
  const cutoff = (options.now ?? new Date()).getTime() - options.retentionMs;
  const batchSize = options.batchSize ?? 200;
  const deleted: string[] = [];
  let afterId: string | undefined;

  for (;;) {
    const jobs = await options.store.listOldest(batchSize, afterId);
    for (const job of jobs) {
      // A job cannot finish before it was created, so no later job has expired either.
      if (Date.parse(job.created_at) > cutoff) return deleted;
      if (!job.done || job.finished_at === null || Date.parse(job.finished_at) > cutoff) continue;

      await options.artifacts.removeArtifacts(job.id);
      await options.artifacts.removeUploads(job.id);
      await options.store.delete(job.id);
      deleted.push(job.id);
    }
    const last = jobs[jobs.length - 1];
    if (jobs.length < batchSize || last === undefined) return deleted;
    afterId = last.id;
  }
}
