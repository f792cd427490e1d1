import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Progress } from '@centroid/contracts';
import { createWorkerFixture, type WorkerFixture } from './worker-fixture.js';

async function exists(filePath: string): Promise<boolean> {
  return stat(filePath).then(
    () => true,
    () => false,
  );
}

describe('worker', () => {
  let fixture: WorkerFixture;

  before(async () => {
    fixture = await createWorkerFixture();
  });

  after(() => fixture.close());

  async function assertSucceeds(modelFilename: string): Promise<void> {
    const job = await fixture.submit(modelFilename);
    const done = await fixture.waitForJob(job.id);
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  }

  it('publishes artifacts of a successful job', async () => {
    const job = await fixture.submit('model.h5', { number_of_clusters: 16 });
    const done = await fixture.waitForJob(job.id);

    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.done, true);
    assert.notEqual(done.started_at, null);
    assert.notEqual(done.finished_at, null);
    assert.equal(done.error, null);
    assert.equal(done.metrics?.backend.name, 'fixture');
    assert.equal(done.progress?.percent, 100);
    assert.deepEqual(done.artifacts.map((artifact) => artifact.name), ['model.h5', 'model.h5.gz', 'metrics.json']);

    for (const artifact of done.artifacts) {
      const content = await readFile(path.join(fixture.dataDir, 'artifacts', job.id, artifact.name));
      assert.equal(artifact.bytes, content.length, artifact.name);
      assert.equal(artifact.sha256, createHash('sha256').update(content).digest('hex'), artifact.name);
      assert.equal(artifact.url, `/v1/jobs/${job.id}/artifacts/${artifact.name}`);
    }
    const model = await readFile(path.join(fixture.dataDir, 'artifacts', job.id, 'model.h5'), 'utf8');
    assert.match(model, /clustered with 16 clusters/);

    assert.equal(await exists(path.join(fixture.dataDir, 'uploads', job.id)), false, 'uploads are removed');
    assert.deepEqual(await readdir(path.join(fixture.dataDir, 'work')), [], 'the work folder is removed');
  });

  it('records a pipeline error, then runs the next job', async () => {
    const job = await fixture.submit('fail.h5');
    const done = await fixture.waitForJob(job.id);

    assert.equal(done.status, 'failed');
    assert.equal(done.done, true);
    assert.equal(done.error?.code, 'DATASET_ARRAY_MISSING');
    assert.equal(done.error?.field, 'dataset.x_train');
    assert.equal(done.error?.file, 'data.npz');
    assert.match(done.error?.message ?? '', /no array 'x_train'/);
    assert.deepEqual(done.artifacts, []);
    assert.equal(await exists(path.join(fixture.dataDir, 'artifacts', job.id)), false, 'a failed job has no artifacts');

    await assertSucceeds('after-failure.h5');
  });

  it('survives a crashed pipeline, then runs the next job', async () => {
    const job = await fixture.submit('crash.h5');
    const done = await fixture.waitForJob(job.id);

    assert.equal(done.status, 'failed');
    assert.equal(done.error?.code, 'WORKER_CRASHED');
    assert.match(done.error?.message ?? '', /exited with code 3/);
    assert.deepEqual(done.artifacts, []);

    await assertSucceeds('after-crash.h5');
  });

  it('rejects a result that breaks the schema', async () => {
    const job = await fixture.submit('invalid.h5');
    const done = await fixture.waitForJob(job.id);

    assert.equal(done.status, 'failed');
    assert.equal(done.error?.code, 'INTERNAL');
    assert.match(done.error?.message ?? '', /invalid message/);
  });

  it('cancels a running job, then runs the next job', async () => {
    const job = await fixture.submit('slow.h5', { number_of_clusters: 8, fine_tune: { epochs: 200 } });
    const fineTuning = await fixture.waitForJob(job.id, (current) => current.progress?.stage === 'fine_tuning' && (current.progress.batch ?? 0) > 0);

    const progress = fineTuning.progress as Progress;
    assert.equal(progress.epochs, 200);
    assert.equal(progress.batches, 10);
    assert.ok((progress.epoch ?? 0) >= 1);

    await fixture.cancelSignal.request(job.id);
    const done = await fixture.waitForJob(job.id, undefined, 10_000);

    assert.equal(done.status, 'canceled');
    assert.equal(done.done, true);
    assert.deepEqual(done.artifacts, []);
    assert.equal(await fixture.cancelSignal.isRequested(job.id), false, 'the flag is cleared');

    await assertSucceeds('after-cancel.h5');
  });

  it('skips a job canceled while queued', async () => {
    const job = await fixture.submit('slow.h5', { number_of_clusters: 8, fine_tune: { epochs: 200 } });
    const queued = await fixture.submit('model.h5');
    await fixture.store.setStatus(queued.id, 'canceled');

    await fixture.waitForJob(job.id, (current) => current.status === 'running');
    await fixture.cancelSignal.request(job.id);
    await fixture.waitForJob(job.id);

    const next = await fixture.submit('model.h5');
    await fixture.waitForJob(next.id);

    const skipped = await fixture.store.get(queued.id);
    assert.equal(skipped?.status, 'canceled');
    assert.equal(skipped?.started_at, null, 'the skipped job never ran');
    assert.equal(await exists(path.join(fixture.dataDir, 'uploads', queued.id)), false, 'its uploads are removed');
  });
});

describe('worker shutdown', () => {
  it('fails a job still running at the deadline', async () => {
    const fixture = await createWorkerFixture();
    try {
      const job = await fixture.submit('slow.h5', { number_of_clusters: 8, fine_tune: { epochs: 200 } });
      await fixture.waitForJob(job.id, (current) => current.progress?.stage === 'fine_tuning');

      await fixture.worker.close(300);
      const done = await fixture.store.get(job.id);
      assert.equal(done?.status, 'failed');
      assert.equal(done?.error?.code, 'WORKER_CRASHED');
      assert.match(done?.error?.message ?? '', /shut down/);
    } finally {
      await fixture.close();
    }
  });
});
