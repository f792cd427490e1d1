// Redis connections for the two kinds of process. The worker waits out a Redis outage;
// the API fails fast so that a request returns 503 instead of hanging.
import { CentroidError } from '@centroid/contracts';
import { Redis, ReplyError } from 'ioredis';

/** An ioredis connection, re-exported so that packages using the job store need no ioredis dependency. */
export type RedisConnection = Redis;

/** Redis URL used when none is configured. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * Opens a connection for the worker. BullMQ workers require `maxRetriesPerRequest: null`,
 * which makes every command wait for Redis to come back instead of failing.
 */
export function createWorkerConnection(url: string = DEFAULT_REDIS_URL): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

/**
 * Opens a connection for the API. With no offline queue and one retry, a command sent while
 * Redis is down fails at once, and `toServiceUnavailable` turns that failure into a 503.
 */
export function createApiConnection(url: string = DEFAULT_REDIS_URL): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
  });
}

/**
 * Converts a failure to reach Redis into SERVICE_UNAVAILABLE. Errors that Redis itself
 * returned (`ReplyError`, such as WRONGTYPE) are bugs, not outages, and pass through unchanged.
 */
export function toServiceUnavailable(error: unknown, operation: string): unknown {
  if (error instanceof CentroidError || error instanceof ReplyError) return error;
  if (!(error instanceof Error)) return error;

  return new CentroidError('SERVICE_UNAVAILABLE', `Redis is unavailable while trying to ${operation}: ${error.message}`, {}, {
    cause: error,
  });
}

/** Runs one Redis operation and reports a lost connection as SERVICE_UNAVAILABLE. */
export async function withRedis<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toServiceUnavailable(error, operation);
  }
}
