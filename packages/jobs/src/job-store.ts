// Job records in Redis: one JSON string per job plus an index for paging. Both the API
// (create, cancel) and the worker write records, so every change is a compare-and-set.
import {
  CentroidError,
  JobSchema,
  type Artifact,
  type Job,
  type JobError,
  type JobStatus,
  type Metrics,
  type Progress,
} from '@centroid/contracts';
import type { Redis } from 'ioredis';
import { decodeJobCursor, encodeJobCursor } from './job-cursor.js';
import { applyStatus } from './job-transitions.js';
import { withRedis } from './redis-connection.js';

export interface JobStoreOptions {
  /** Connection to use, which the store does not close. */
  connection: Redis;
  /** Prefix of every key the store writes. @defaultValue `centroid` */
  prefix?: string;
}

/** Outcome of a change: the record after the change and whether anything was written. */
export interface JobUpdate {
  job: Job;
  changed: boolean;
}

export interface JobListOptions {
  limit: number;
  /** `next_cursor` of the previous page, omitted for the first page. */
  cursor?: string;
}

export interface JobList {
  jobs: Job[];
  nextCursor: string | null;
}

/** Change to apply to a record. It returns the new record, or null to leave the record unchanged. */
export type JobMutation = (job: Job) => Job | null;

// Writes the new value only if the key still contains the value that the change was computed from.
const COMPARE_AND_SET = `
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
`;

const MAX_UPDATE_ATTEMPTS = 20;

export class JobStore {
  readonly prefix: string;
  private readonly redis: Redis;

  constructor(options: JobStoreOptions) {
    this.redis = options.connection;
    this.prefix = options.prefix ?? 'centroid';
  }

  /** Stores a new record and adds it to the index. Raises if a record with that id exists. */
  async create(job: Job): Promise<Job> {
    const valid = JobSchema.parse(job);

    const results = await withRedis('create a job', () =>
      this.redis
        .multi()
        .set(this.jobKey(valid.id), JSON.stringify(valid), 'NX')
        .zadd(this.indexKey(), 0, valid.id)
        .exec(),
    );

    const setResult = results?.[0];
    if (setResult?.[0]) throw setResult[0];
    if (setResult?.[1] !== 'OK') throw new Error(`Job ${valid.id} already exists in Redis.`);
    return valid;
  }

  /** Reads a record, or returns null when the job does not exist. */
  async get(id: string): Promise<Job | null> {
    const raw = await withRedis('read a job', () => this.redis.get(this.jobKey(id)));
    return raw === null ? null : this.parse(id, raw);
  }

  /**
   * Applies a change with compare-and-set, computing it again from the fresh record when
   * another process wrote in between. Returns null when the job does not exist.
   */
  async update(id: string, mutate: JobMutation): Promise<JobUpdate | null> {
    const key = this.jobKey(id);

    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const raw = await withRedis('read a job', () => this.redis.get(key));
      if (raw === null) return null;

      const current = this.parse(id, raw);
      const next = mutate(current);
      if (next === null) return { job: current, changed: false };

      const valid = JobSchema.parse(next);
      const written = await withRedis('update a job', () =>
        this.redis.eval(COMPARE_AND_SET, 1, key, raw, JSON.stringify(valid)),
      );
      if (written === 1) return { job: valid, changed: true };
    }

    throw new Error(`Job ${id} changed concurrently ${MAX_UPDATE_ATTEMPTS} times in a row, so the update was abandoned.`);
  }

  /** Moves the job to `status` when the transition is allowed, setting its timestamps. */
  setStatus(id: string, status: JobStatus): Promise<JobUpdate | null> {
    return this.update(id, (job) => applyStatus(job, status));
  }

  /** Records progress. Does nothing unless the job is running. */
  setProgress(id: string, progress: Progress): Promise<JobUpdate | null> {
    return this.update(id, (job) => (job.status === 'running' ? { ...job, progress } : null));
  }

  /**
   * Stores metrics and artifacts and marks the job succeeded in one write, so no reader sees
   * a succeeded job without its artifacts. Does nothing unless the job is still running,
   * because it may have been canceled meanwhile.
   */
  setResult(id: string, metrics: Metrics, artifacts: Artifact[]): Promise<JobUpdate | null> {
    return this.update(id, (job) => {
      if (job.status !== 'running') return null;

      const succeeded = applyStatus(job, 'succeeded');
      if (succeeded === null) return null;

      const progress = job.progress === null ? null : { ...job.progress, percent: 100 };
      return { ...succeeded, metrics, artifacts, progress };
    });
  }

  /** Records the error and marks the job failed. Does nothing once the job is terminal. */
  setError(id: string, error: JobError): Promise<JobUpdate | null> {
    return this.update(id, (job) => {
      const failed = applyStatus(job, 'failed');
      return failed === null ? null : { ...failed, error };
    });
  }

  /** Replaces the webhook delivery state. Does nothing for a job without a webhook. */
  setWebhook(id: string, webhook: NonNullable<Job['webhook']>): Promise<JobUpdate | null> {
    return this.update(id, (job) => (job.webhook === null ? null : { ...job, webhook }));
  }

  /** Lists jobs newest first. Records that vanished between the index read and the fetch are skipped. */
  async list(options: JobListOptions): Promise<JobList> {
    const upper = options.cursor === undefined ? '+' : `(${decodeJobCursor(options.cursor)}`;

    // Reading one id more than the page size shows whether another page follows.
    const ids = await withRedis('list jobs', () =>
      this.redis.zrange(this.indexKey(), upper, '-', 'BYLEX', 'REV', 'LIMIT', 0, options.limit + 1),
    );
    const pageIds = ids.slice(0, options.limit);
    if (pageIds.length === 0) return { jobs: [], nextCursor: null };

    const raws = await withRedis('list jobs', () => this.redis.mget(pageIds.map((id) => this.jobKey(id))));
    const jobs: Job[] = [];
    raws.forEach((raw, index) => {
      const id = pageIds[index];
      if (raw !== null && id !== undefined) jobs.push(this.parse(id, raw));
    });

    const lastId = pageIds[pageIds.length - 1];
    const nextCursor = ids.length > options.limit && lastId !== undefined ? encodeJobCursor(lastId) : null;
    return { jobs, nextCursor };
  }

  /**
   * Lists up to `limit` jobs oldest first, starting after the id `afterId` when given. Job ids
   * sort by creation time, so this walks jobs in the order they were submitted.
   */
  async listOldest(limit: number, afterId?: string): Promise<Job[]> {
    const lower = afterId === undefined ? '-' : `(${afterId}`;
    const ids = await withRedis('list jobs', () => this.redis.zrange(this.indexKey(), lower, '+', 'BYLEX', 'LIMIT', 0, limit));
    if (ids.length === 0) return [];

    const raws = await withRedis('list jobs', () => this.redis.mget(ids.map((id) => this.jobKey(id))));
    const jobs: Job[] = [];
    raws.forEach((raw, index) => {
      const id = ids[index];
      if (raw !== null && id !== undefined) jobs.push(this.parse(id, raw));
    });
    return jobs;
  }

  /** Deletes a record and its index entry. */
  async delete(id: string): Promise<void> {
    await withRedis('delete a job', () =>
      this.redis.multi().del(this.jobKey(id)).zrem(this.indexKey(), id).exec(),
    );
  }

  private parse(id: string, raw: string): Job {
    const result = JobSchema.safeParse(JSON.parse(raw));
    if (!result.success) {
      throw new CentroidError('INTERNAL', `Job record ${id} in Redis does not match the job schema: ${result.error.message}`);
    }
    return result.data;
  }

  private jobKey(id: string): string {
    return `${this.prefix}:job:${id}`;
  }

  private indexKey(): string {
    return `${this.prefix}:jobs`;
  }
}
