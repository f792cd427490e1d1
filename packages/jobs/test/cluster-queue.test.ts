import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ClusterQueue, createApiConnection, createJobId } from '../src/index.js';
import { TEST_REDIS_URL, createTestPrefix, deleteKeys } from './redis-fixture.js';

describe('ClusterQueue', () => {
  const prefix = createTestPrefix();
  let connection: Redis;
  let queue: ClusterQueue;
  let inspector: Queue;
  let inspectorConnection: Redis;

  before(async () => {
    connection = createApiConnection(TEST_REDIS_URL);
    queue = new ClusterQueue({ connection, prefix });
    inspectorConnection = new Redis(TEST_REDIS_URL);
    inspector = new Queue('cluster', { connection: inspectorConnection, prefix });
  });

  after(async () => {
    await queue.obliterate();
    await queue.close();
    await deleteKeys(inspectorConnection, prefix);
    await inspector.close();
    await inspectorConnection.quit();
    await connection.quit();
  });

  it('adds job under its own id', async () => {
    const jobId = createJobId();
    await queue.add({ jobId, model: { path: '/data/uploads/x/model.h5', filename: 'model.h5' }, dataset: null });

    const job = await inspector.getJob(jobId);
    assert.equal(job?.id, jobId);
    assert.deepEqual(job?.data, { jobId, model: { path: '/data/uploads/x/model.h5', filename: 'model.h5' }, dataset: null });
    assert.deepEqual(job?.opts.removeOnComplete, { age: 86400, count: 1000 });
    assert.deepEqual(job?.opts.removeOnFail, { age: 604800 });
    assert.equal(job?.opts.attempts, 1);
  });

  it('ignores second add of same id', async () => {
    const jobId = createJobId();
    const data = { jobId, model: { path: '/m.h5', filename: 'm.h5' }, dataset: null };
    await queue.add(data);
    await queue.add(data);
    const waiting = await inspector.getWaiting();
    assert.equal(waiting.filter((job) => job.id === jobId).length, 1);
  });

  it('rejects an id containing a colon', async () => {
    await assert.rejects(queue.add({ jobId: 'a:b', model: { path: '/m.h5', filename: 'm.h5' }, dataset: null }), /contains ':'/);
  });
});
