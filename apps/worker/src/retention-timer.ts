// Runs the retention sweep when the worker starts and then periodically, so finished jobs and
// their artifacts are deleted once the retention period has passed.
import { sweepExpiredJobs, type SweepOptions } from '@centroid/jobs';
import type { Logger } from 'pino';

/** Time between sweeps when none is configured: one hour. */
export const DEFAULT_SWEEP_INTERVAL_MS = 3600 * 1000;

export interface RetentionTimerOptions extends Omit<SweepOptions, 'now'> {
  intervalMs?: number;
  log: Logger;
}

export class RetentionTimer {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly options: RetentionTimerOptions) {}

  /** Starts a sweep now and one every interval. */
  start(): void {
    this.sweepInBackground();
    this.timer = setInterval(() => this.sweepInBackground(), this.options.intervalMs ?? DEFAULT_SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  private sweepInBackground(): void {
    if (this.running !== null) return;
    const { log } = this.options;
    this.running = sweepExpiredJobs(this.options)
      .then((deleted) => {
        if (deleted.length > 0) log.info({ jobs: deleted.length, retentionMs: this.options.retentionMs }, 'expired jobs deleted');
      })
      .catch((error: unknown) => log.warn({ err: error }, 'retention sweep failed, so it runs again at the next interval'))
      .finally(() => {
        this.running = null;
      });
  }
}
