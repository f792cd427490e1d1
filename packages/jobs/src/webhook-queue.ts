// The BullMQ queue of webhook deliveries. Each queue job is one event for one finished job,
// retried by BullMQ with a delay, so a delivery survives a worker restart and any worker can
// make the next attempt.
import { WebhookDeliveryDataSchema, type WebhookDeliveryData } from '@centroid/contracts';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { countJobsByState, countJobsIn } from './queue-counts.js';
import { withRedis } from './redis-connection.js';

/** Name of the webhook queue when none is configured. */
export const WEBHOOK_QUEUE_NAME = 'webhook';

/** Attempts per event, the first included, when none is configured: retries spread over 1.2 to 2.4 hours with the default backoff. */
export const DEFAULT_WEBHOOK_ATTEMPTS = 12;

export interface WebhookQueueOptions {
  /** Connection to use, which the queue does not close. */
  connection: Redis;
  /** BullMQ queue name. @defaultValue `webhook` */
  name?: string;
  /** BullMQ key prefix. @defaultValue `centroid` */
  prefix?: string;
  /** Attempts per event, the first included. @defaultValue 12 */
  maxAttempts?: number;
}

export class WebhookQueue {
  readonly name: string;
  readonly prefix: string;
  readonly maxAttempts: number;
  private readonly queue: Queue<WebhookDeliveryData>;

  constructor(options: WebhookQueueOptions) {
    this.name = options.name ?? WEBHOOK_QUEUE_NAME;
    this.prefix = options.prefix ?? 'centroid';
    this.maxAttempts = options.maxAttempts ?? DEFAULT_WEBHOOK_ATTEMPTS;
    this.queue = new Queue<WebhookDeliveryData>(this.name, { connection: options.connection, prefix: this.prefix });
  }

  /**
   * Adds the delivery of a job's event. The queue job id is derived from the job id, so adding
   * the same event twice, as a worker may after a crash, delivers it once.
   */
  async add(data: WebhookDeliveryData): Promise<void> {
    const valid = WebhookDeliveryDataSchema.parse(data);
    await withRedis('enqueue a webhook delivery', () =>
      this.queue.add('deliver', valid, {
        jobId: `webhook-${valid.jobId}`,
        attempts: this.maxAttempts,
        // The delay comes from the worker's backoff strategy, which also reads Retry-After.
        backoff: { type: 'webhook' },
        removeOnComplete: { age: 24 * 3600, count: 1000 },
        removeOnFail: { age: 7 * 24 * 3600 },
      }),
    );
  }

  /** Counts deliveries that are waiting, running or waiting for a retry. */
  async countPending(): Promise<number> {
    return countJobsIn(this.queue, ['waiting', 'active', 'delayed']);
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
