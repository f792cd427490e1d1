// Allowed status changes of a job and the timestamps that each change sets.
import { TERMINAL_STATUSES, type Job, type JobStatus } from '@centroid/contracts';

// running → running is a worker claiming a job again after BullMQ declared the previous
// run stalled (its worker died), so the job restarts from the beginning.
const ALLOWED_TRANSITIONS: Record<JobStatus, readonly JobStatus[]> = {
  queued: ['running', 'failed', 'canceled'],
  running: ['running', 'succeeded', 'failed', 'canceled'],
  succeeded: [],
  failed: [],
  canceled: [],
};

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return ALLOWED_TRANSITIONS[from].includes(to);
}

/**
 * Returns a copy of the job in status `to`, with `started_at` set on entering `running` and
 * `finished_at` and `done` set on entering a terminal status. Returns null when the change
 * is not allowed, such as any change out of a terminal status.
 */
export function applyStatus(job: Job, to: JobStatus, now: Date = new Date()): Job | null {
  if (!canTransition(job.status, to)) return null;

  const timestamp = now.toISOString();
  const next: Job = { ...job, status: to, done: isTerminal(to) };

  if (to === 'running') {
    next.started_at = timestamp;
    next.progress = null;
  }
  if (isTerminal(to)) next.finished_at = timestamp;

  return next;
}
