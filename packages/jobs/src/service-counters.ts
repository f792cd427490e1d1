// Counters that workers add to and the API exposes as Prometheus metrics: finished jobs and
// their durations by status, and webhook delivery outcomes. They live in one Redis hash, so
// the totals cover every worker and survive worker restarts.
import type { Redis } from 'ioredis';
import { withRedis } from './redis-connection.js';

/** Upper bounds of the job duration histogram, in seconds: from 10 s to 12 hours. */
export const JOB_DURATION_BUCKETS = [10, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 43200] as const;

export interface JobDurationHistogram {
  /** Jobs whose duration was at most each bound, in the order of JOB_DURATION_BUCKETS. */
  buckets: number[];
  count: number;
  sumSeconds: number;
}

export interface CounterSnapshot {
  /** Finished jobs by final status. */
  jobsFinished: Record<string, number>;
  /** Run time of finished jobs that ran, by final status. */
  jobDurations: Record<string, JobDurationHistogram>;
  /** Ended webhook deliveries by outcome, such as `delivered` or `attempts_exhausted`. */
  webhookDeliveries: Record<string, number>;
}

export interface ServiceCountersOptions {
  connection: Redis;
  /** Prefix of the Redis key. @defaultValue `centroid` */
  prefix?: string;
}

export class ServiceCounters {
  private readonly redis: Redis;
  private readonly key: string;

  constructor(options: ServiceCountersOptions) {
    this.redis = options.connection;
    this.key = `${options.prefix ?? 'centroid'}:counters`;
  }

  /** Counts a finished job. `durationSeconds` is null for a job that never ran, such as one canceled while queued. */
  async recordJobFinished(status: string, durationSeconds: number | null): Promise<void> {
    const transaction = this.redis.multi().hincrby(this.key, `jobs_finished|${status}`, 1);
    if (durationSeconds !== null) {
      transaction.hincrby(this.key, `job_duration_count|${status}`, 1);
      transaction.hincrbyfloat(this.key, `job_duration_sum|${status}`, durationSeconds);
      for (const bound of JOB_DURATION_BUCKETS) {
        if (durationSeconds <= bound) transaction.hincrby(this.key, `job_duration_bucket|${status}|${bound}`, 1);
      }
    }
    await withRedis('count a finished job', () => transaction.exec());
  }

  /** Counts a webhook delivery that ended with `outcome`. */
  async recordWebhookOutcome(outcome: string): Promise<void> {
    await withRedis('count a webhook delivery', () => this.redis.hincrby(this.key, `webhook_deliveries|${outcome}`, 1));
  }

  async read(): Promise<CounterSnapshot> {
    const fields = await withRedis('read the service counters', () => this.redis.hgetall(this.key));
    const snapshot: CounterSnapshot = { jobsFinished: {}, jobDurations: {}, webhookDeliveries: {} };
    const histogram = (status: string): JobDurationHistogram =>
      (snapshot.jobDurations[status] ??= { buckets: JOB_DURATION_BUCKETS.map(() => 0), count: 0, sumSeconds: 0 });

    for (const [field, raw] of Object.entries(fields)) {
      const [name, label, bound] = field.split('|');
      const value = Number(raw);
      if (label === undefined || !Number.isFinite(value)) continue;

      if (name === 'jobs_finished') snapshot.jobsFinished[label] = value;
      else if (name === 'webhook_deliveries') snapshot.webhookDeliveries[label] = value;
      else if (name === 'job_duration_count') histogram(label).count = value;
      else if (name === 'job_duration_sum') histogram(label).sumSeconds = value;
      else if (name === 'job_duration_bucket') {
        const index = JOB_DURATION_BUCKETS.indexOf(Number(bound) as (typeof JOB_DURATION_BUCKETS)[number]);
        if (index >= 0) histogram(label).buckets[index] = value;
      }
    }
    return snapshot;
  }

  /** Deletes the counters. Meant for tests. */
  async clear(): Promise<void> {
    await this.redis.del(this.key);
  }
}
