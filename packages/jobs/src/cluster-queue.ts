// The BullMQ queue that carries accepted jobs to the workers. Its jobs hold only the job id
// and file references. Parameters and status live in the job record.
import { ClusterJobDataSchema, type ClusterJobData } from '@centroid/contracts';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { countJobsByState, countJobsIn } from './queue-counts.js';
import { withRedis } from './redis-connection.js';

/** Name of the queue when none is configured. */
export const CLUSTER_QUEUE_NAME = 'cluster';

export interface ClusterQueueOptions {
  /** Connection to use, which the queue does not close. */
  connection: Redis;
  /** BullMQ queue name. @defaultValue `cluster` */
  name?: string;
  /** BullMQ key prefix. @defaultValue `centroid` */
  prefix?: string;
}

export class ClusterQueue {
  readonly name: string;
  readonly prefix: string;
  private readonly queue: Queue<ClusterJobData>;

  constructor(options: ClusterQueueOptions) {
    this.name = options.name ?? CLUSTER_QUEUE_NAME;
    this.prefix = options.prefix ?? 'centroid';
    this.queue = new Queue<ClusterJobData>(this.name, { connection: options.connection, prefix: this.prefix });
  }

  /**
   * Adds a job under its own id. BullMQ ignores an add whose id is still in the queue, so
   * adding the same job twice runs it once.
   */
  async add(data: ClusterJobData): Promise<void> {
    const valid = ClusterJobDataSchema.parse(data);
    if (valid.jobId.includes(':')) throw new Error(`Job id ${valid.jobId} contains ':', which BullMQ rejects.`);

    await withRedis('enqueue a job', () =>
      this.queue.add('cluster', valid, {
        jobId: valid.jobId,
        // Failures are recorded in the job record, so BullMQ never retries a job itself.
        attempts: 1,
        removeOnComplete: { age: 24 * 3600, count: 1000 },
        removeOnFail: { age: 7 * 24 * 3600 },
      }),
    );
  }

  /** Reads the data of a job still in the queue, or returns null when BullMQ no longer has it. */
  async getData(jobId: string): Promise<ClusterJobData | null> {
    const job = await withRedis('read a queued job', () => this.queue.getJob(jobId));
    return job === undefined ? null : ClusterJobDataSchema.parse(job.data);
  }

  /** Counts jobs that are waiting or running. */
  async countPending(): Promise<number> {
    return countJobsIn(this.queue, ['waiting', 'active', 'delayed', 'prioritized']);
  }

  /** Counts the queue's jobs in each state: waiting, active, delayed, prioritized, completed and failed. */
  countByState(): Promise<Record<string, number>> {
    return countJobsByState(this.queue);
  }

  /** Deletes every key of the queue. Meant for tests that own their queue. */
  async obliterate(): Promise<void> {
    await this.queue.obliterate({ force: true });
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
