// /livez reports that the process runs. /readyz reports whether it can serve requests, which
// needs a reply from Redis and a server that is not shutting down. Load balancers route by /readyz.
// /readyz also lists the live workers with their TensorFlow.js backends. With none live the API
// is still ready, because it accepts and queues jobs, so the body only warns that jobs will wait.
import { CentroidError, type WorkerRecord } from '@centroid/contracts';
import type { FastifyInstance } from 'fastify';
import type { RouteDependencies } from '../dependencies.js';

const REDIS_PING_TIMEOUT_MS = 2000;

/** Body of a 200 from GET /readyz. */
export interface ReadinessReport {
  status: 'ready';
  /** Workers whose heartbeat has not expired, ordered by id. */
  workers: WorkerRecord[];
  /** Present when no worker is live. */
  warning?: string;
}

const NO_WORKER_WARNING = 'No worker is live, so queued jobs wait until a worker starts.';

export function registerHealthRoutes(app: FastifyInstance, { pingRedis, listWorkers, isShuttingDown }: RouteDependencies): void {
  app.get('/livez', async () => ({ status: 'ok' }));

  app.get('/readyz', async (): Promise<ReadinessReport> => {
    if (isShuttingDown()) throw new CentroidError('SERVICE_UNAVAILABLE', 'The server is shutting down.');

    try {
      await withTimeout(pingRedis(), REDIS_PING_TIMEOUT_MS);
    } catch (error) {
      throw new CentroidError('SERVICE_UNAVAILABLE', `Redis is not reachable: ${(error as Error).message}`, {}, { cause: error });
    }

    let workers: WorkerRecord[];
    try {
      workers = await withTimeout(listWorkers(), REDIS_PING_TIMEOUT_MS);
    } catch (error) {
      throw new CentroidError('SERVICE_UNAVAILABLE', `The list of live workers could not be read from Redis: ${(error as Error).message}`, {}, { cause: error });
    }
    return workers.length === 0 ? { status: 'ready', workers, warning: NO_WORKER_WARNING } : { status: 'ready', workers };
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
