// The whole service over real HTTP on 127.0.0.1 with real Redis: the API, the worker with the
// fixture pipeline, the typed client and a local webhook receiver.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CentroidApiError, type CentroidClient } from '@centroid/client';
import { WebhookPayloadSchema, type Job, type WebhookPayload } from '@centroid/contracts';
import { verifyWebhook } from '@centroid/webhooks';
import { fixturePath } from '@centroid/examples';
import { startService, type ServiceFixture } from './service-fixture.js';
import type { WebhookReceiver } from './webhook-receiver.js';
import { FIXTURE_PIPELINE } from './worker-fixture.js';


function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

describe('end to end', () => {
  let service: ServiceFixture;
  let client: CentroidClient;
  let receiver: WebhookReceiver;
  let baseUrl: string;
  let receiverUrl: string;
  let secret: string;
  let dataDir: string;
  let filesDir: string;

  before(async () => {
    service = await startService({ pipelineModule: FIXTURE_PIPELINE, progressIntervalMs: 50, cancelPollIntervalMs: 200 });
    ({ client, receiver, baseUrl, receiverUrl, secret, dataDir, filesDir } = service);
  });

  after(async () => {
    await service.close();
  });

  async function writeModel(filename: string): Promise<string> {
    const modelPath = path.join(filesDir, filename);
    // A real model passes the API's check; the fixture pipeline picks its behaviour from the file name.
    await copyFile(fixturePath('dense-mlp.h5'), modelPath);
    return modelPath;
  }

  it('runs a job from upload to signed webhook', async () => {
    const modelPath = await writeModel('slow-model.h5');
    const submitted = await client.submitJob({
      params: { number_of_clusters: 16, fine_tune: { epochs: 2 }, webhook: { url: receiverUrl } },
      modelPath,
    });
    assert.equal(submitted.status, 'queued');
    assert.equal(submitted.urls.self, `${baseUrl}/v1/jobs/${submitted.id}`);

    const updates: Job[] = [];
    const done = await client.waitForJob(submitted.id, { intervalMs: 50, timeoutMs: 30_000, onUpdate: (job) => updates.push(job) });
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.ok(updates.some((job) => job.progress?.stage === 'fine_tuning' && job.progress.epoch !== null), 'fine-tuning progress was visible');

    assert.deepEqual(done.artifacts.map((artifact) => artifact.name), ['model.h5', 'model.h5.gz', 'metrics.json']);
    for (const artifact of done.artifacts) {
      assert.equal(artifact.url, `${baseUrl}/v1/jobs/${done.id}/artifacts/${artifact.name}`);
      const downloaded = await client.downloadArtifact(done.id, artifact.name, path.join(filesDir, `${done.id}-${artifact.name}`));
      const content = await readFile(downloaded.path);
      assert.equal(downloaded.sha256, artifact.sha256, artifact.name);
      assert.equal(sha256(content), artifact.sha256, artifact.name);
      assert.equal(content.length, artifact.bytes, artifact.name);
    }

    const webhook = await receiver.waitFor(done.id);
    const payload: WebhookPayload = WebhookPayloadSchema.parse(verifyWebhook(secret, webhook.headers, webhook.body));
    assert.equal(payload.type, 'job.succeeded');
    assert.equal(payload.data.id, done.id);
    assert.equal(payload.data.artifacts[0]?.url, `${baseUrl}/v1/jobs/${done.id}/artifacts/model.h5`);
    assert.equal(webhook.headers['webhook-id'], `msg_${done.id}`);

    const recorded = await waitForJob(client, done.id, (job) => (job.webhook?.attempts.length ?? 0) > 0);
    assert.equal(recorded.webhook?.delivered, true);
    assert.equal(recorded.webhook?.attempts.length, 1);
    assert.equal(recorded.webhook?.attempts[0]?.status, 204);

    // The worker's counters reach the API's /metrics through Redis.
    const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
    assert.match(metrics, /^centroid_jobs_finished_total\{status="succeeded"\} [1-9]/m);
    assert.match(metrics, /^centroid_job_duration_seconds_count\{status="succeeded"\} [1-9]/m);
    assert.match(metrics, /^centroid_webhook_deliveries_total\{outcome="delivered"\} [1-9]/m);
  });

  it('serves a byte range over HTTP', async () => {
    const modelPath = await writeModel('ranged.h5');
    const job = await client.waitForJob((await client.submitJob({ params: { number_of_clusters: 4 }, modelPath })).id, { intervalMs: 50 });
    const full = await readFile(path.join(dataDir, 'artifacts', job.id, 'model.h5'));

    const response = await fetch(`${baseUrl}/v1/jobs/${job.id}/artifacts/model.h5`, { headers: { range: 'bytes=0-7' } });
    assert.equal(response.status, 206);
    assert.equal(response.headers.get('content-range'), `bytes 0-7/${full.length}`);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), full.subarray(0, 8));
  });

  it('cancels a running job over HTTP', async () => {
    const modelPath = await writeModel('slow-cancel.h5');
    const submitted = await client.submitJob({
      params: { number_of_clusters: 8, fine_tune: { epochs: 200 }, webhook: { url: receiverUrl } },
      modelPath,
    });
    await waitForJob(client, submitted.id, (job) => job.progress?.stage === 'fine_tuning');

    const requested = await client.cancelJob(submitted.id);
    assert.equal(requested.status, 'running', 'the worker, not the API, marks a running job canceled');

    const done = await client.waitForJob(submitted.id, { intervalMs: 50, timeoutMs: 10_000 });
    assert.equal(done.status, 'canceled');
    assert.deepEqual(done.artifacts, []);

    const webhook = await receiver.waitFor(done.id);
    const payload = WebhookPayloadSchema.parse(verifyWebhook(secret, webhook.headers, webhook.body));
    assert.equal(payload.type, 'job.canceled');

    const again = await client.cancelJob(submitted.id);
    assert.equal(again.status, 'canceled');
  });

  it('sends the webhook of a job canceled while queued', async () => {
    const busy = await client.submitJob({ params: { number_of_clusters: 8, fine_tune: { epochs: 200 } }, modelPath: await writeModel('slow-busy.h5') });
    await waitForJob(client, busy.id, (job) => job.status === 'running');
    const queued = await client.submitJob({
      params: { number_of_clusters: 8, webhook: { url: receiverUrl } },
      modelPath: await writeModel('queued-cancel.h5'),
    });

    const canceled = await client.cancelJob(queued.id);
    assert.equal(canceled.status, 'canceled');
    await client.cancelJob(busy.id);

    const webhook = await receiver.waitFor(queued.id);
    const payload = WebhookPayloadSchema.parse(verifyWebhook(secret, webhook.headers, webhook.body));
    assert.equal(payload.type, 'job.canceled');
    assert.equal(payload.data.id, queued.id);
  });

  it('reports a rejected upload as a typed error', async () => {
    const notAModel = path.join(filesDir, 'notes.txt');
    await writeFile(notAModel, 'plain text');

    await assert.rejects(client.submitJob({ params: { number_of_clusters: 8 }, modelPath: notAModel }), (error: unknown) => {
      assert.ok(error instanceof CentroidApiError);
      assert.equal(error.code, 'MODEL_FORMAT_UNSUPPORTED');
      assert.equal(error.status, 415);
      assert.equal(error.problem.file, 'notes.txt');
      return true;
    });

    await assert.rejects(client.submitJob({ params: { number_of_clusters: 1 }, modelPath: await writeModel('m.h5') }), (error: unknown) => {
      assert.ok(error instanceof CentroidApiError);
      assert.equal(error.code, 'PARAMS_INVALID');
      assert.equal(error.problem.errors?.[0]?.field, 'number_of_clusters');
      return true;
    });

    await assert.rejects(client.getJob('00000000000000000000000000'), (error: unknown) => error instanceof CentroidApiError && error.code === 'JOB_NOT_FOUND');
  });
});

async function waitForJob(client: CentroidClient, jobId: string, until: (job: Job) => boolean, timeoutMs = 10_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await client.getJob(jobId);
    if (until(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not reach the expected state within ${timeoutMs} ms: ${job.status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
