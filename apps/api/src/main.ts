// Starts the API server from environment variables (see config.ts) and drains it on SIGTERM
// or SIGINT: /readyz turns 503 first, then in-flight requests finish before the port closes.
import { ArtifactStore, CancelSignal, ClusterQueue, createApiConnection, IdempotencyKeys, JobStore, WorkerRegistry } from '@centroid/jobs';
import { pino } from 'pino';
import { buildApp } from './app.js';
import { createSharedMetricsReader } from './routes/metrics.js';
import { readApiConfig } from './config.js';
import { buildLoggerOptions } from './logger-options.js';

// Time for load balancers to see /readyz fail before the server stops accepting connections.
const DRAIN_DELAY_MS = 2000;
const REDIS_ERROR_LOG_INTERVAL_MS = 30_000;

async function main(): Promise<void> {
  const config = readApiConfig(process.env);
  const log = pino(buildLoggerOptions(config.logLevel));

  const redis = createApiConnection(config.redisUrl);
  let lastRedisErrorLog = 0;
  redis.on('error', (error: Error) => {
    // ioredis emits an error on every reconnection attempt; one line per interval is enough.
    if (Date.now() - lastRedisErrorLog < REDIS_ERROR_LOG_INTERVAL_MS) return;
    lastRedisErrorLog = Date.now();
    log.warn({ err: error }, 'Redis connection failed, so requests that need Redis return 503 until it reconnects');
  });

  const queue = new ClusterQueue({ connection: redis, prefix: config.redisPrefix });
  const workers = new WorkerRegistry({ connection: redis, prefix: config.redisPrefix });
  let shuttingDown = false;

  const app = await buildApp({
    store: new JobStore({ connection: redis, prefix: config.redisPrefix }),
    queue,
    artifacts: new ArtifactStore({ root: config.dataDir }),
    cancelSignal: new CancelSignal({ connection: redis, prefix: config.redisPrefix }),
    pingRedis: () => redis.ping(),
    listWorkers: () => workers.list(),
    readSharedMetrics: createSharedMetricsReader(redis, config.redisPrefix),
    idempotency: new IdempotencyKeys({ connection: redis, prefix: config.redisPrefix }),
    limits: { maxModelBytes: config.maxModelBytes, maxDatasetBytes: config.maxDatasetBytes },
    ...(config.publicUrl === undefined ? {} : { publicUrl: config.publicUrl }),
    allowPrivateWebhooks: config.allowPrivateWebhooks,
    isShuttingDown: () => shuttingDown,
    logger: buildLoggerOptions(config.logLevel),
  });

  const shutdown = async (signal: string): Promise<void> => {
    if (shuttingDown) return;
    shuttingDown = true;
    app.log.info({ signal }, 'shutting down');

    await new Promise((resolve) => setTimeout(resolve, DRAIN_DELAY_MS));
    await app.close();
    await queue.close();
    await redis.quit().catch(() => redis.disconnect());
    app.log.info('stopped');
  };
  process.once('SIGTERM', (signal) => void shutdown(signal));
  process.once('SIGINT', (signal) => void shutdown(signal));

  await app.listen({ port: config.port, host: config.host });
  if (config.allowPrivateWebhooks) app.log.warn('CENTROID_WEBHOOK_ALLOW_PRIVATE=1: webhook URLs may name loopback and private addresses');
  app.log.info({ dataDir: config.dataDir, publicUrl: config.publicUrl ?? null }, 'api started');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
