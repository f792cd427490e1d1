// The worker publishes its record with its backend while it runs, records itself on the
// jobs it starts, and removes its record when it stops.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkerRegistry } from '@centroid/jobs';
import { createWorkerFixture, type WorkerFixture } from './worker-fixture.js';

const BACKEND = { name: 'tensorflow', version: '4.22.0' };
const HEARTBEAT_INTERVAL_MS = 100;

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

describe('worker heartbeat', () => {
  let fixture: WorkerFixture;
  let registry: WorkerRegistry;

  before(async () => {
    fixture = await createWorkerFixture({ backend: BACKEND, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, concurrency: 2 });
    registry = new WorkerRegistry({ connection: fixture.redis, prefix: fixture.prefix });
  });

  after(() => fixture.close());

  it('publishes the backend at start', async () => {
    const workers = await registry.list();

    assert.equal(workers.length, 1);
    assert.deepEqual(workers[0]?.backend, BACKEND);
    assert.equal(workers[0]?.pid, process.pid);
    assert.equal(workers[0]?.concurrency, 2);
    assert.doesNotMatch(workers[0]?.id ?? '', /:/);
  });

  it('renews the record on every interval', async () => {
    const first = (await registry.list())[0];
    await sleep(HEARTBEAT_INTERVAL_MS * 4);
    const later = (await registry.list())[0];

    assert.equal(later?.id, first?.id);
    assert.ok(Date.parse(later?.heartbeat_at ?? '') > Date.parse(first?.heartbeat_at ?? ''), 'heartbeat_at advances');
    // The record lives three intervals, so it would be gone by now without renewal.
    const ttl = await fixture.redis.pttl(`${fixture.prefix}:workers:${first?.id}`);
    assert.ok(ttl > 0, `time to live ${ttl} ms`);
    assert.ok(ttl <= HEARTBEAT_INTERVAL_MS * 3, `time to live ${ttl} ms`);
  });

  it('records itself on the jobs it runs', async () => {
    const [worker] = await registry.list();
    const job = await fixture.submit('model.h5');
    const done = await fixture.waitForJob(job.id);

    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.deepEqual(done.worker, { id: worker?.id, backend: BACKEND });
  });

  it('removes the record when it stops', async () => {
    await fixture.worker.close(5000);

    assert.deepEqual(await registry.list(), []);
  });
});

describe('worker without a backend', () => {
  it('publishes a null backend', async () => {
    const fixture = await createWorkerFixture();
    try {
      const workers = await new WorkerRegistry({ connection: fixture.redis, prefix: fixture.prefix }).list();
      assert.equal(workers.length, 1);
      assert.equal(workers[0]?.backend, null);
    } finally {
      await fixture.close();
    }
  });
});
