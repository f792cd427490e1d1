// Cancellation requests for running jobs. The API stores a flag and publishes the job id.
// The worker listens on the channel to react at once, and it also polls the flag because
// pub/sub drops messages sent while the subscriber is reconnecting.
import type { Redis } from 'ioredis';
import { withRedis } from './redis-connection.js';

export interface CancelSignalOptions {
  /** Connection for the flag and for publishing, which the signal does not close. */
  connection: Redis;
  /** Prefix of the flag keys and the channel. @defaultValue `centroid` */
  prefix?: string;
  /** Lifetime of a cancellation flag, in seconds. @defaultValue 604800 (7 days) */
  flagTtlSeconds?: number;
}

/** Stops listening to the cancellation channel. */
export type Unsubscribe = () => Promise<void>;

export class CancelSignal {
  readonly channel: string;
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly flagTtlSeconds: number;

  constructor(options: CancelSignalOptions) {
    this.redis = options.connection;
    this.prefix = options.prefix ?? 'centroid';
    this.flagTtlSeconds = options.flagTtlSeconds ?? 7 * 24 * 3600;
    this.channel = `${this.prefix}:cancel`;
  }

  /** Flags the job as canceled and notifies listening workers. */
  async request(jobId: string): Promise<void> {
    await withRedis('request cancellation', () =>
      this.redis.multi().set(this.flagKey(jobId), '1', 'EX', this.flagTtlSeconds).publish(this.channel, jobId).exec(),
    );
  }

  async isRequested(jobId: string): Promise<boolean> {
    const flag = await withRedis('read a cancellation flag', () => this.redis.exists(this.flagKey(jobId)));
    return flag === 1;
  }

  async clear(jobId: string): Promise<void> {
    await withRedis('clear a cancellation flag', () => this.redis.del(this.flagKey(jobId)));
  }

  /**
   * Calls `onCancel` with each job id published on the channel. `subscriber` becomes a
   * subscriber-mode connection, so it must not be shared with other commands.
   */
  async subscribe(subscriber: Redis, onCancel: (jobId: string) => void): Promise<Unsubscribe> {
    const listener = (channel: string, message: string): void => {
      if (channel === this.channel) onCancel(message);
    };

    subscriber.on('message', listener);
    await subscriber.subscribe(this.channel);

    return async () => {
      subscriber.off('message', listener);
      await subscriber.unsubscribe(this.channel);
    };
  }

  private flagKey(jobId: string): string {
    return `${this.prefix}:job:${jobId}:cancel`;
  }
}
