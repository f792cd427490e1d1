// Job ids sort by creation time, so the job index can page newest-first by plain string order.
import { randomBytes } from 'node:crypto';

const JOB_ID_PATTERN = /^[0-9a-z]{10}[0-9a-f]{16}$/;

/**
 * Creates a job id: creation time in milliseconds as 10 base-36 digits, then 64 random bits
 * in hex. Ids contain no `:` because BullMQ rejects custom job ids that do.
 */
export function createJobId(now: Date = new Date()): string {
  const time = now.getTime().toString(36).padStart(10, '0');
  return `${time}${randomBytes(8).toString('hex')}`;
}

/** Checks the form of a job id taken from a URL before it becomes part of a Redis key or path. */
export function isJobId(value: string): boolean {
  return JOB_ID_PATTERN.test(value);
}
