// The whole service with the real pipeline on a small Keras model: HTTP, Redis, the worker's
// child process, artifacts and the signed webhook, then a failed job and a job after it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CentroidClient } from '@centroid/client';
import { MetricsSchema, WebhookPayloadSchema } from '@centroid/contracts';
import { encodeNpz, fixturePath } from '@centroid/examples';
import { verifyWebhook } from '@centroid/webhooks';
import { startService, type ServiceFixture } from './service-fixture.js';
import type { WebhookReceiver } from './webhook-receiver.js';

const JOB_TIMEOUT_MS = 120_000;

describe('service with the real pipeline', () => {
  let service: ServiceFixture;
  let client: CentroidClient;
  let receiver: WebhookReceiver;
  let receiverUrl: string;
  let secret: string;
  let filesDir: string;

  before(async () => {
    service = await startService();
    ({ client, receiver, receiverUrl, secret, filesDir } = service);
  });

  after(async () => {
    await service.close();
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
