// /livez reports that the process runs. /readyz reports whether it can serve requests, which
// needs a reply from Redis and a server that is not shutting down. Load balancers route by /readyz.
import { CentroidError } from '@centroid/contracts';
import type { FastifyInstance } from 'fastify';
import type { RouteDependencies } from '../dependencies.js';

const REDIS_PING_TIMEOUT_MS = 2000;

export function registerHealthRoutes(app: FastifyInstance, { pingRedis, isShuttingDown }: RouteDependencies): void {
  app.get('/livez', async () => ({ status: 'ok' }));

  app.get('/readyz', async () => {
    if (isShuttingDown()) throw new CentroidError('SERVICE_UNAVAILABLE', 'The server is shutting down.');

    try {
      await withTimeout(pingRedis(), REDIS_PING_TIMEOUT_MS);
    } catch (error) {
      throw new CentroidError('SERVICE_UNAVAILABLE', `Redis is not reachable: ${(error as Error).message}`, {}, { cause: error });
    }
    return { status: 'ready' };
  });
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
