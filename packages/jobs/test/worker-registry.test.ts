import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { WorkerRecord } from '@centroid/contracts';
import { Redis } from 'ioredis';
import { WorkerRegistry } from '../src/index.js';
import { TEST_REDIS_URL, createTestPrefix, deleteKeys } from './redis-fixture.js';

function workerRecord(id: string, backendName: string): WorkerRecord {
  const now = new Date().toISOString();
  return {
    id,
    hostname: 'test-host',
    pid: 1234,
    backend: { name: backendName, version: '4.22.0' },
    concurrency: 1,
    started_at: now,
    heartbeat_at: now,
  };
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

describe('WorkerRegistry', () => {
  const prefix = createTestPrefix();
  let redis: Redis;
  let registry: WorkerRegistry;

  before(() => {
    redis = new Redis(TEST_REDIS_URL);
    registry = new WorkerRegistry({ connection: redis, prefix });
  });

  after(async () => {
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  it('lists published workers by id', async () => {
    await registry.publish(workerRecord('worker-b', 'cpu'), 60_000);
    await registry.publish(workerRecord('worker-a', 'tensorflow'), 60_000);

    const workers = await registry.list();
    assert.deepEqual(
      workers.map((worker) => [worker.id, worker.backend?.name]),
      [
        ['worker-a', 'tensorflow'],
        ['worker-b', 'cpu'],
      ],
    );
    assert.ok(await redis.exists(`${prefix}:workers:worker-a`), 'the record is stored under <prefix>:workers:<id>');

    await registry.remove('worker-a');
    await registry.remove('worker-b');
    assert.deepEqual(await registry.list(), []);
  });

  it('drops a worker whose heartbeat expired', async () => {
    await registry.publish(workerRecord('short-lived', 'cpu'), 100);
    assert.deepEqual(
      (await registry.list()).map((worker) => worker.id),
      ['short-lived'],
    );

    await sleep(250);
    assert.deepEqual(await registry.list(), []);
    assert.equal(await redis.zcard(`${prefix}:workers`), 0, 'the expired id leaves the index');
  });

  it('skips a record that is not valid', async () => {
    await registry.publish(workerRecord('valid', 'cpu'), 60_000);
    await redis.zadd(`${prefix}:workers`, Date.now() + 60_000, 'broken');
    await redis.set(`${prefix}:workers:broken`, '{"id": 5}', 'PX', 60_000);

    assert.deepEqual(
      (await registry.list()).map((worker) => worker.id),
      ['valid'],
    );
    await registry.remove('valid');
    await registry.remove('broken');
  });

  it('rejects a time to live below 1 ms', async () => {
    await assert.rejects(registry.publish(workerRecord('any', 'cpu'), 0), /ttlMs must be a positive integer, got 0/);
  });
});
