import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Job, Problem } from '@centroid/contracts';
import { createJobId, createWorkerConnection } from '@centroid/jobs';
import { TEST_REDIS_URL, createApiFixture, type ApiFixture } from './api-fixture.js';
import { createQueuedJob, createRunningJob } from './job-fixtures.js';

describe('POST /v1/jobs/{id}/cancel', () => {
  let fixture: ApiFixture;

  before(async () => {
    fixture = await createApiFixture();
  });

  after(() => fixture.close());

  function cancel(id: string) {
    return fixture.app.inject({ method: 'POST', url: `/v1/jobs/${id}/cancel` });
  }

  it('cancels a queued job at once', async () => {
    const job = await createQueuedJob(fixture.store);

    const response = await cancel(job.id);
    assert.equal(response.statusCode, 200);
    const body = response.json<Job>();
    assert.equal(body.status, 'canceled');
    assert.equal(body.done, true);
    assert.notEqual(body.finished_at, null);
    assert.equal((await fixture.store.get(job.id))?.status, 'canceled');
    assert.equal(await fixture.cancelSignal.isRequested(job.id), false, 'no worker needs a signal');
  });

  it('repeats harmlessly', async () => {
    const job = await createQueuedJob(fixture.store);
    const first = await cancel(job.id);
    const second = await cancel(job.id);

    assert.equal(second.statusCode, 200);
    assert.equal(second.json<Job>().status, 'canceled');
    assert.equal(second.json<Job>().finished_at, first.json<Job>().finished_at);
  });

  it('signals the worker of a running job', async () => {
    const job = await createRunningJob(fixture.store);
    const subscriber = createWorkerConnection(TEST_REDIS_URL);
    const published: string[] = [];
    await fixture.cancelSignal.subscribe(subscriber, (id) => published.push(id));

    try {
      const response = await cancel(job.id);
      assert.equal(response.statusCode, 202);
      assert.equal(response.json<Job>().status, 'running', 'the worker marks it canceled');
      assert.equal(await fixture.cancelSignal.isRequested(job.id), true);

      const again = await cancel(job.id);
      assert.equal(again.statusCode, 202);

      await waitUntil(() => published.length === 2);
      assert.deepEqual(published, [job.id, job.id]);
    } finally {
      await subscriber.quit();
    }
  });

  it('returns a finished job unchanged', async () => {
    const job = await createRunningJob(fixture.store);
    await fixture.store.setError(job.id, { code: 'INTERNAL', message: 'boom' });

    const response = await cancel(job.id);
    assert.equal(response.statusCode, 200);
    assert.equal(response.json<Job>().status, 'failed');
    assert.equal(await fixture.cancelSignal.isRequested(job.id), false);
  });

  it('returns 404 for an unknown job', async () => {
    const response = await cancel(createJobId());
    assert.equal(response.statusCode, 404);
    assert.equal(response.json<Problem>().code, 'JOB_NOT_FOUND');
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
