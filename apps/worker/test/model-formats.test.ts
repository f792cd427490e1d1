// The whole service with the real pipeline on a Keras 3 .keras archive and a zipped TF.js
// layers model, data-free: HTTP, Redis, the worker's child process and the artifact
// downloads, checking the names and content types of the returned models.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CentroidClient } from '@centroid/client';
import { MetricsSchema, type Job } from '@centroid/contracts';
import { fixturePath } from '@centroid/examples';
import { packTfjsModel } from '@centroid/model-io';
import { startService, type ServiceFixture } from './service-fixture.js';

const JOB_TIMEOUT_MS = 120_000;
const CLUSTERS = 4;

describe('service with .keras and TF.js models', () => {
  let service: ServiceFixture;
  let client: CentroidClient;
  let filesDir: string;

  before(async () => {
    service = await startService();
    ({ client, filesDir } = service);
  });

  after(async () => {
    await service.close();
  });

  /** Runs a data-free job on `modelPath` and returns it once it succeeded. */
  async function runJob(modelPath: string): Promise<Job> {
    const submitted = await client.submitJob({
      params: { number_of_clusters: CLUSTERS, cluster_centroids_init: 'linear', fine_tune: { epochs: 0 } },
      modelPath,
    });
    const job = await client.waitForJob(submitted.id, { intervalMs: 100, timeoutMs: JOB_TIMEOUT_MS });
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const metrics = MetricsSchema.parse(job.metrics);
    assert.ok(metrics.layers.some((layer) => layer.clustered && layer.distinct_after <= CLUSTERS), 'no weight was clustered');
    return job;
  }

  /** Downloads every artifact over HTTP and checks its Content-Type header, size and digest. */
  async function assertDownloads(job: Job, expected: Record<string, string>): Promise<void> {
    assert.deepEqual(
      job.artifacts.map((artifact) => [artifact.name, artifact.content_type]).sort(),
      Object.entries(expected).sort(),
    );
    for (const artifact of job.artifacts) {
      const response = await fetch(`${service.baseUrl}/v1/jobs/${job.id}/artifacts/${artifact.name}`);
      assert.equal(response.status, 200, artifact.name);
      assert.equal(response.headers.get('content-type'), expected[artifact.name], artifact.name);
      const content = Buffer.from(await response.arrayBuffer());
      assert.equal(content.length, artifact.bytes, artifact.name);
      assert.equal(createHash('sha256').update(content).digest('hex'), artifact.sha256, artifact.name);
    }
  }

  it('returns a .keras upload as model.keras', async () => {
    const job = await runJob(fixturePath('formats/keras3/batch-norm.keras'));

    assert.equal(job.inputs.model.filename, 'batch-norm.keras');
    await assertDownloads(job, {
      'model.keras': 'application/zip',
      'model.keras.gz': 'application/gzip',
      'metrics.json': 'application/json',
    });
  });

  it('returns a TF.js zip as model.tfjs.zip', async () => {
    const zipPath = path.join(filesDir, 'batch-norm.tfjs.zip');
    await packTfjsModel(fixturePath('formats/keras3/batch-norm.tfjs'), zipPath);

    const job = await runJob(zipPath);

    assert.equal(job.inputs.model.filename, 'batch-norm.tfjs.zip');
    await assertDownloads(job, {
      'model.tfjs.zip': 'application/zip',
      'model.tfjs.zip.gz': 'application/gzip',
      'metrics.json': 'application/json',
    });
  });
});
