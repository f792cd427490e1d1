// GET /readyz lists the live workers with their backends, and the job resource names the
// worker that ran the job. The workers are records published under the fixture's own prefix.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Job, WorkerRecord } from '@centroid/contracts';
import { WorkerRegistry } from '@centroid/jobs';
import type { ReadinessReport } from '../src/routes/health.js';
import { createApiFixture, type ApiFixture } from './api-fixture.js';
import { createQueuedJob } from './job-fixtures.js';

function workerRecord(id: string, backend: WorkerRecord['backend']): WorkerRecord {
  const now = new Date().toISOString();
  return { id, hostname: 'test-host', pid: 42, backend, concurrency: 1, started_at: now, heartbeat_at: now };
}

describe('GET /readyz workers', () => {
  let fixture: ApiFixture;
  let registry: WorkerRegistry;

  before(async () => {
    fixture = await createApiFixture();
    registry = new WorkerRegistry({ connection: fixture.redis, prefix: fixture.prefix });
  });

  after(() => fixture.close());

  it('stays ready with no live worker', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: '/readyz' });

    assert.equal(response.statusCode, 200);
    const report = response.json<ReadinessReport>();
    assert.equal(report.status, 'ready');
    assert.deepEqual(report.workers, []);
    assert.match(report.warning ?? '', /No worker is live/);
  });

  it('lists live workers with their backends', async () => {
    await registry.publish(workerRecord('worker-native', { name: 'tensorflow', version: '4.22.0' }), 60_000);
    await registry.publish(workerRecord('worker-unknown', null), 60_000);
    try {
      const response = await fixture.app.inject({ method: 'GET', url: '/readyz' });

      assert.equal(response.statusCode, 200);
      const report = response.json<ReadinessReport>();
      assert.equal(report.warning, undefined);
      assert.deepEqual(
        report.workers.map((worker) => [worker.id, worker.backend]),
        [
          ['worker-native', { name: 'tensorflow', version: '4.22.0' }],
          ['worker-unknown', null],
        ],
      );
    } finally {
      await registry.remove('worker-native');
      await registry.remove('worker-unknown');
    }
  });

  it('leaves out a worker whose heartbeat expired', async () => {
    await registry.publish(workerRecord('worker-gone', { name: 'cpu', version: '4.22.0' }), 50);
    await new Promise((resolve) => setTimeout(resolve, 150));

    const report = (await fixture.app.inject({ method: 'GET', url: '/readyz' })).json<ReadinessReport>();
    assert.deepEqual(report.workers, []);
  });
});

describe('job resource worker', () => {
  let fixture: ApiFixture;

  before(async () => {
    fixture = await createApiFixture();
  });

  after(() => fixture.close());

  it('is null until a worker starts the job', async () => {
    const job = await createQueuedJob(fixture.store);

    const response = await fixture.app.inject({ method: 'GET', url: `/v1/jobs/${job.id}` });
    assert.equal(response.statusCode, 200);
    assert.equal(response.json<Job>().worker, null);
  });

  it('names the worker and backend that ran the job', async () => {
    const job = await createQueuedJob(fixture.store);
    const worker = { id: 'worker-native', backend: { name: 'tensorflow', version: '4.22.0' } };
    await fixture.store.update(job.id, (current) => ({ ...current, status: 'running', worker }));

    const response = await fixture.app.inject({ method: 'GET', url: `/v1/jobs/${job.id}` });
    assert.deepEqual(response.json<Job>().worker, worker);

    const list = await fixture.app.inject({ method: 'GET', url: '/v1/jobs' });
    const listed = list.json<{ jobs: Job[] }>().jobs.find((candidate) => candidate.id === job.id);
    assert.deepEqual(listed?.worker, worker);
  });
});
