// Delivers cancellation requests to the jobs this worker runs. It listens on the Redis channel
// for a fast reaction and polls each running job's flag as well, because pub/sub messages sent
// while the subscriber reconnects are lost.
import type { CancelSignal, RedisConnection } from '@centroid/jobs';
import type { Logger } from 'pino';

export class CancelWatcher {
  private readonly watched = new Map<string, { onCancel: () => void; timer: NodeJS.Timeout }>();
  private unsubscribe: (() => Promise<void>) | null = null;

  constructor(
    private readonly cancelSignal: CancelSignal,
    private readonly subscriber: RedisConnection,
    private readonly pollIntervalMs: number,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.unsubscribe = await this.cancelSignal.subscribe(this.subscriber, (jobId) => this.trigger(jobId));
  }

  /** Calls `onCancel` once when cancellation of `jobId` is requested. Returns a function that stops watching. */
  watch(jobId: string, onCancel: () => void): () => void {
    const poll = async (): Promise<void> => {
      try {
        if (await this.cancelSignal.isRequested(jobId)) this.trigger(jobId);
      } catch (error) {
        this.log.warn({ err: error, jobId }, 'failed to poll the cancellation flag');
      }
    };

    const timer = setInterval(() => void poll(), this.pollIntervalMs);
    this.watched.set(jobId, { onCancel, timer });
    void poll();

    return () => this.unwatch(jobId);
  }

  async close(): Promise<void> {
    for (const jobId of [...this.watched.keys()]) this.unwatch(jobId);
    await this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private trigger(jobId: string): void {
    const entry = this.watched.get(jobId);
    if (entry === undefined) return;

    this.unwatch(jobId);
    this.log.info({ jobId }, 'cancellation requested');
    entry.onCancel();
  }

  private unwatch(jobId: string): void {
    const entry = this.watched.get(jobId);
    if (entry !== undefined) clearInterval(entry.timer);
    this.watched.delete(jobId);
  }
}
