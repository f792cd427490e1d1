// Writes pipeline progress to the job record without flooding Redis: a stage change is written
// at once, and batch-level updates at most once per interval, the latest one winning.
import type { Progress } from '@centroid/contracts';
import type { JobStore } from '@centroid/jobs';
import type { Logger } from 'pino';

export class ProgressWriter {
  private lastStage: Progress['stage'] | null = null;
  private lastWriteAt = 0;
  private pending: Progress | null = null;
  private timer: NodeJS.Timeout | undefined;
  // Writes run one after another so that an older progress never overwrites a newer one.
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: JobStore,
    private readonly jobId: string,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  /** Stage of the latest progress, or null before the first one. */
  get stage(): Progress['stage'] | null {
    return this.lastStage;
  }

  push(progress: Progress): void {
    this.pending = progress;

    if (progress.stage !== this.lastStage) {
      this.log.info({ stage: progress.stage }, 'stage started');
      this.lastStage = progress.stage;
      this.writePending();
      return;
    }

    const wait = this.lastWriteAt + this.intervalMs - Date.now();
    if (wait <= 0) this.writePending();
    else this.timer ??= setTimeout(() => this.writePending(), wait);
  }

  /** Writes any progress still waiting for its interval and waits for every write. */
  async flush(): Promise<void> {
    this.writePending();
    await this.chain;
  }

  private writePending(): void {
    clearTimeout(this.timer);
    this.timer = undefined;

    const progress = this.pending;
    if (progress === null) return;
    this.pending = null;
    this.lastWriteAt = Date.now();

    this.chain = this.chain.then(async () => {
      try {
        await this.store.setProgress(this.jobId, progress);
      } catch (error) {
        this.log.warn({ err: error, stage: progress.stage }, 'failed to record progress, so the next update replaces it');
      }
    });
  }
}
