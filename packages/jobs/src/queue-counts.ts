// Job counts of a BullMQ queue, shared by the cluster and webhook queues.
import type { JobType, Queue } from 'bullmq';
import { withRedis } from './redis-connection.js';

/** States that /metrics reports for every queue. */
const REPORTED_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed'] as const;

/** Counts the queue's jobs in each reported state. */
export function countJobsByState(queue: Queue): Promise<Record<string, number>> {
  return withRedis('count queued jobs', () => queue.getJobCounts(...REPORTED_STATES));
}

/** Returns the total number of the queue's jobs in `states`. */
export async function countJobsIn(queue: Queue, states: readonly JobType[]): Promise<number> {
  const counts = await withRedis('count queued jobs', () => queue.getJobCounts(...states));
  return Object.values(counts).reduce((sum, count) => sum + count, 0);
}
