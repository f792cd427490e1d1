// An app built around a Redis key prefix and a data folder of its own, so route tests can run
// next to other programs that use the same Redis.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ArtifactStore, CancelSignal, ClusterQueue, createApiConnection, IdempotencyKeys, JobStore, WorkerRegistry } from '@centroid/jobs';
import type { FastifyInstance } from 'fastify';
import { buildApp, createSharedMetricsReader, type AppOptions } from '../src/index.js';

export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Model upload limit of the test app: room for the 28 KB fixture model, small enough to exceed cheaply. */
export const MAX_MODEL_BYTES = 64 * 1024;
/** Dataset upload limit of the test app: room for the 26 KB fixture NPZ. */
export const MAX_DATASET_BYTES = 64 * 1024;

export type RedisConnection = ReturnType<typeof createApiConnection>;

export interface ApiFixture {
  app: FastifyInstance;
  redis: RedisConnection;
  prefix: string;
  store: JobStore;
  queue: ClusterQueue;
  artifacts: ArtifactStore;
  cancelSignal: CancelSignal;
  dataDir: string;
  close: () => Promise<void>;
}

export async function createApiFixture(overrides: Partial<AppOptions> = {}): Promise<ApiFixture> {
  const prefix = `centroid-test-${randomUUID()}`;
  const dataDir = await mkdtemp(path.join(tmpdir(), 'centroid-api-'));
  const redis = createApiConnection(TEST_REDIS_URL);
  // The API connection has no offline queue, so commands sent before it is ready would fail.
  if (redis.status !== 'ready') await once(redis, 'ready');

  const store = new JobStore({ connection: redis, prefix });
  const queue = new ClusterQueue({ connection: redis, prefix });
  const artifacts = new ArtifactStore({ root: dataDir });
  const cancelSignal = new CancelSignal({ connection: redis, prefix });

  const app = await buildApp({
    store,
    queue,
    artifacts,
    cancelSignal,
    pingRedis: () => redis.ping(),
    listWorkers: () => new WorkerRegistry({ connection: redis, prefix }).list(),
    readSharedMetrics: createSharedMetricsReader(redis, prefix),
    idempotency: new IdempotencyKeys({ connection: redis, prefix }),
    limits: { maxModelBytes: MAX_MODEL_BYTES, maxDatasetBytes: MAX_DATASET_BYTES },
    logger: false,
    ...overrides,
  });

  const close = async (): Promise<void> => {
    await app.close();
    await queue.obliterate();
    await queue.close();
    await deleteKeys(redis, prefix);
    await redis.quit();
    await rm(dataDir, { recursive: true, force: true });
  };

  return { app, redis, prefix, store, queue, artifacts, cancelSignal, dataDir, close };
}

export async function deleteKeys(redis: RedisConnection, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
