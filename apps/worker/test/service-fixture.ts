// The whole service for end-to-end tests: the API on a free 127.0.0.1 port and a worker
// sharing a fresh Redis prefix and data folder, the typed client and a local webhook receiver.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildApp, createSharedMetricsReader } from '@centroid/api';
import { CentroidClient } from '@centroid/client';
import { ArtifactStore, CancelSignal, ClusterQueue, createApiConnection, IdempotencyKeys, JobStore, WorkerRegistry } from '@centroid/jobs';
import { generateWebhookSecret } from '@centroid/webhooks';
import { pino } from 'pino';
import { startWorker, type WorkerOptions } from '../src/index.js';
import { WebhookReceiver } from './webhook-receiver.js';
import { TEST_REDIS_URL } from './worker-fixture.js';

export interface ServiceFixture {
  baseUrl: string;
  client: CentroidClient;
  receiver: WebhookReceiver;
  receiverUrl: string;
  /** Secret the worker signs webhooks with. */
  secret: string;
  dataDir: string;
  /** Scratch folder for files the test uploads or downloads. */
  filesDir: string;
  close(): Promise<void>;
}

/** Starts the API and a worker; `workerOptions` override the worker's test settings. */
export async function startService(workerOptions: Partial<WorkerOptions> = {}): Promise<ServiceFixture> {
  const prefix = `centroid-test-${randomUUID()}`;
  const secret = generateWebhookSecret();
  const receiver = new WebhookReceiver();
  const receiverUrl = await receiver.start();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'centroid-e2e-data-'));
  const filesDir = await mkdtemp(path.join(tmpdir(), 'centroid-e2e-files-'));

  const redis = createApiConnection(TEST_REDIS_URL);
  if (redis.status !== 'ready') await once(redis, 'ready');
  const queue = new ClusterQueue({ connection: redis, prefix });

  const app = await buildApp({
    store: new JobStore({ connection: redis, prefix }),
    queue,
    artifacts: new ArtifactStore({ root: dataDir }),
    cancelSignal: new CancelSignal({ connection: redis, prefix }),
    pingRedis: () => redis.ping(),
    listWorkers: () => new WorkerRegistry({ connection: redis, prefix }).list(),
    readSharedMetrics: createSharedMetricsReader(redis, prefix),
    idempotency: new IdempotencyKeys({ connection: redis, prefix }),
    // The webhook receiver listens on 127.0.0.1.
    allowPrivateWebhooks: true,
    logger: false,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  const worker = await startWorker({
    redisUrl: TEST_REDIS_URL,
    prefix,
    dataDir,
    webhookSecret: secret,
    allowPrivateWebhooks: true,
    publicUrl: baseUrl,
    webhookDelivery: { backoff: { initialDelayMs: 50, maxDelayMs: 200 }, timeoutMs: 2000 },
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    ...workerOptions,
  });

  const close = async () => {
    await worker.close(5000);
    await app.close();
    await queue.obliterate();
    await queue.close();

    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    await redis.quit();

    await receiver.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(filesDir, { recursive: true, force: true });
  };

  return { baseUrl, client: new CentroidClient({ baseUrl }), receiver, receiverUrl, secret, dataDir, filesDir, close };
}
