import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { JobParamsSchema } from '@centroid/contracts';
import { ArtifactStore, JobStore, buildQueuedJob, createJobId, createWorkerConnection, type RedisConnection } from '@centroid/jobs';
import { pino } from 'pino';
import { RetentionTimer } from '../src/retention-timer.js';
import { TEST_REDIS_URL } from './worker-fixture.js';

describe('RetentionTimer', () => {
  const prefix = `centroid-test-${randomUUID()}`;
  let connection: RedisConnection;
  let store: JobStore;
  let root: string;

  before(async () => {
    connection = createWorkerConnection(TEST_REDIS_URL);
    if (connection.status !== 'ready') await once(connection, 'ready');
    store = new JobStore({ connection, prefix });
    root = await mkdtemp(path.join(tmpdir(), 'centroid-retention-timer-'));
  });

  after(async () => {
    const keys = await connection.keys(`${prefix}:*`);
    if (keys.length > 0) await connection.del(...keys);
    await connection.quit();
    await rm(root, { recursive: true, force: true });
  });

  it('sweeps at start and on each interval', async () => {
    const createFinishedJob = async (): Promise<string> => {
      const id = createJobId();
      const model = { filename: 'model.h5', bytes: 1, sha256: '0'.repeat(64) };
      await store.create(buildQueuedJob({ id, params: JobParamsSchema.parse({ number_of_clusters: 8 }), model, dataset: null }));
      await store.setStatus(id, 'canceled');
      return id;
    };
    const waitUntilDeleted = async (id: string): Promise<void> => {
      const deadline = Date.now() + 5000;
      while ((await store.get(id)) !== null) {
        if (Date.now() > deadline) throw new Error(`job ${id} was not deleted`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };

    const first = await createFinishedJob();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const timer = new RetentionTimer({ store, artifacts: new ArtifactStore({ root }), retentionMs: 10, intervalMs: 100, log: pino({ level: 'silent' }) });
    timer.start();
    try {
      await waitUntilDeleted(first);
      const second = await createFinishedJob();
      await waitUntilDeleted(second);
    } finally {
      await timer.stop();
    }
    assert.equal((await store.list({ limit: 10 })).jobs.length, 0);
  });
});
