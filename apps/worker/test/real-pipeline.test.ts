// The whole service with the real pipeline on a small Keras model: HTTP, Redis, the worker's
// child process, artifacts and the signed webhook, then a failed job and a job after it.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '@centroid/api';
import { CentroidClient } from '@centroid/client';
import { MetricsSchema, WebhookPayloadSchema } from '@centroid/contracts';
import { encodeNpz, fixturePath } from '@centroid/examples';
import { ArtifactStore, CancelSignal, ClusterQueue, JobStore, createApiConnection, type RedisConnection } from '@centroid/jobs';
import { generateWebhookSecret, verifyWebhook } from '@centroid/webhooks';
import { pino } from 'pino';
import { startWorker, type RunningWorker } from '../src/index.js';
import { WebhookReceiver } from './webhook-receiver.js';
import { TEST_REDIS_URL } from './worker-fixture.js';

const JOB_TIMEOUT_MS = 120_000;

describe('service with the real pipeline', () => {
  const prefix = `centroid-test-${randomUUID()}`;
  const secret = generateWebhookSecret();
  const receiver = new WebhookReceiver();
  let receiverUrl: string;
  let dataDir: string;
  let filesDir: string;
  let redis: RedisConnection;
  let queue: ClusterQueue;
  let app: Awaited<ReturnType<typeof buildApp>>;
  let worker: RunningWorker;
  let client: CentroidClient;

  before(async () => {
    receiverUrl = await receiver.start();
    dataDir = await mkdtemp(path.join(tmpdir(), 'centroid-real-data-'));
    filesDir = await mkdtemp(path.join(tmpdir(), 'centroid-real-files-'));

    redis = createApiConnection(TEST_REDIS_URL);
    if (redis.status !== 'ready') await once(redis, 'ready');
    queue = new ClusterQueue({ connection: redis, prefix });
    app = await buildApp({
      store: new JobStore({ connection: redis, prefix }),
      queue,
      artifacts: new ArtifactStore({ root: dataDir }),
      cancelSignal: new CancelSignal({ connection: redis, prefix }),
      pingRedis: () => redis.ping(),
      // The webhook receiver listens on 127.0.0.1.
      allowPrivateWebhooks: true,
      logger: false,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

    worker = await startWorker({
      redisUrl: TEST_REDIS_URL,
      prefix,
      dataDir,
      webhookSecret: secret,
      allowPrivateWebhooks: true,
      publicUrl: baseUrl,
      webhookDelivery: { backoff: { initialDelayMs: 50, maxDelayMs: 200 }, timeoutMs: 2000 },
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    });
    client = new CentroidClient({ baseUrl });
  });

  after(async () => {
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
  });

  it('clusters a model from upload to signed webhook', async () => {
    const submitted = await client.submitJob({
      params: {
        number_of_clusters: 4,
        cluster_centroids_init: 'linear',
        fine_tune: { epochs: 1, batch_size: 16, learning_rate: 1e-3 },
        webhook: { url: receiverUrl },
      },
      modelPath: fixturePath('tiny-cnn.h5'),
      datasetPath: fixturePath('tiny-cnn.npz'),
    });
    const job = await client.waitForJob(submitted.id, { intervalMs: 100, timeoutMs: JOB_TIMEOUT_MS });
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));

    const metrics = MetricsSchema.parse(job.metrics);
    assert.equal(metrics.fine_tuning.performed, true);
    assert.equal(metrics.clustered?.samples, 32);
    assert.deepEqual(
      metrics.layers.filter((layer) => layer.clustered).map((layer) => layer.distinct_after <= 4),
      [true, true],
    );

    assert.deepEqual(job.artifacts.map((artifact) => artifact.name).sort(), ['metrics.json', 'model.h5', 'model.h5.gz']);
    for (const artifact of job.artifacts) {
      const destination = path.join(filesDir, `${job.id}-${artifact.name}`);
      const downloaded = await client.downloadArtifact(job.id, artifact.name, destination);
      const content = await readFile(destination);
      assert.equal(createHash('sha256').update(content).digest('hex'), artifact.sha256, artifact.name);
      assert.equal(downloaded.bytes, artifact.bytes, artifact.name);
    }

    const webhook = await receiver.waitFor(job.id, 10_000);
    const payload = WebhookPayloadSchema.parse(verifyWebhook(secret, webhook.headers, webhook.body));
    assert.equal(payload.type, 'job.succeeded');
    assert.equal(payload.data.id, job.id);
  });

  it('fails a job whose dataset does not fit, then runs the next job', async () => {
    const wrongShape = path.join(filesDir, 'wrong-shape.npz');
    await writeFile(
      wrongShape,
      encodeNpz({
        x_test: { dtype: '<f4', shape: [2, 9, 9, 1], data: new Float32Array(162) },
        y_test: { dtype: '|u1', shape: [2], data: new Uint8Array([0, 1]) },
      }),
    );
    const bad = await client.submitJob({
      params: { number_of_clusters: 4, fine_tune: { epochs: 0 } },
      modelPath: fixturePath('tiny-cnn.h5'),
      datasetPath: wrongShape,
    });
    const failed = await client.waitForJob(bad.id, { intervalMs: 100, timeoutMs: JOB_TIMEOUT_MS });
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error?.code, 'DATASET_SHAPE_MISMATCH');
    assert.equal(failed.error?.field, 'dataset.x_test');
    assert.equal(failed.error?.file, 'wrong-shape.npz');
    assert.match(failed.error?.message ?? '', /\(2, 9, 9, 1\).*\(n, 8, 8, 1\)/);
    assert.deepEqual(failed.artifacts, []);

    const good = await client.submitJob({
      params: { number_of_clusters: 4, fine_tune: { epochs: 0 } },
      modelPath: fixturePath('tiny-cnn.h5'),
      datasetPath: fixturePath('tiny-cnn.npz'),
    });
    const succeeded = await client.waitForJob(good.id, { intervalMs: 100, timeoutMs: JOB_TIMEOUT_MS });
    assert.equal(succeeded.status, 'succeeded', JSON.stringify(succeeded.error));
  });
});
