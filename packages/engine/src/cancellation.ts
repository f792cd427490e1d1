// Cancellation between batches: long loops check an AbortSignal and yield to the event
// loop, so that the code which aborts the signal gets a chance to run.
import { CentroidError } from '@centroid/contracts';

/** Raises JOB_CANCELED when `signal` is aborted. */
export function throwIfCanceled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new CentroidError('JOB_CANCELED', 'the job was canceled', {}, { cause: signal.reason });
  }
}

/** Lets timers and I/O callbacks run, such as the one that aborts a signal. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
