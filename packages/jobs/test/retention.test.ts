import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { JobParamsSchema, type Job, type JobStatus } from '@centroid/contracts';
import { ArtifactStore, JobStore, buildQueuedJob, createApiConnection, createJobId, sweepExpiredJobs } from '../src/index.js';
import { TEST_REDIS_URL, createTestPrefix, deleteKeys } from './redis-fixture.js';

const DAY_MS = 24 * 3600 * 1000;
const NOW = new Date('2026-06-15T12:00:00Z');
const daysAgo = (days: number): Date => new Date(NOW.getTime() - days * DAY_MS);

async function exists(filePath: string): Promise<boolean> {
  return stat(filePath).then(
    () => true,
    () => false,
  );
}

describe('sweepExpiredJobs', () => {
  const prefix = createTestPrefix();
  const redis = createApiConnection(TEST_REDIS_URL);
  const store = new JobStore({ connection: redis, prefix });
  let root: string;
  let artifacts: ArtifactStore;

  before(async () => {
    if (redis.status !== 'ready') await once(redis, 'ready');
    root = await mkdtemp(path.join(tmpdir(), 'centroid-retention-'));
    artifacts = new ArtifactStore({ root });
  });

  after(async () => {
    await deleteKeys(redis, prefix);
    await redis.quit();
    await rm(root, { recursive: true, force: true });
  });

  /** Creates a job with an upload and an artifact on disk, created and finished at the given times. */
  const createJob = async (createdAt: Date, status: JobStatus, finishedAt: Date | null): Promise<Job> => {
    const id = createJobId(createdAt);
    const model = { filename: 'model.h5', bytes: 1, sha256: '0'.repeat(64) };
    await store.create(buildQueuedJob({ id, params: JobParamsSchema.parse({ number_of_clusters: 8 }), model, dataset: null, now: createdAt }));
    await artifacts.saveUpload({ jobId: id, field: 'model', filename: 'model.h5', source: Readable.from([Buffer.from('m')]), maxBytes: 10 });
    const workDir = await artifacts.createWorkDir(id);
    await writeFile(path.join(workDir, 'metrics.json'), '{}');
    await artifacts.publishArtifacts(id, [{ name: 'metrics.json', path: path.join(workDir, 'metrics.json'), contentType: 'application/json' }]);

    const update = await store.update(id, (job) => ({
      ...job,
      status,
      done: status === 'succeeded' || status === 'failed' || status === 'canceled',
      started_at: status === 'queued' ? null : createdAt.toISOString(),
      finished_at: finishedAt?.toISOString() ?? null,
    }));
    assert.ok(update !== null);
    return update.job;
  };

  const artifactExists = (id: string) => exists(path.join(root, 'artifacts', id, 'metrics.json'));
  const uploadExists = (id: string) => exists(path.join(root, 'uploads', id));

  it('deletes only jobs that finished before the cutoff', async () => {
    const expired = await createJob(daysAgo(10), 'succeeded', daysAgo(9));
    const expiredFailure = await createJob(daysAgo(9), 'failed', daysAgo(8));
    const stillRunning = await createJob(daysAgo(12), 'running', null);
    const finishedRecently = await createJob(daysAgo(10), 'succeeded', daysAgo(1));
    const recent = await createJob(daysAgo(2), 'succeeded', daysAgo(2));

    const deleted = await sweepExpiredJobs({ store, artifacts, retentionMs: 7 * DAY_MS, now: NOW });

    assert.deepEqual(deleted.sort(), [expired.id, expiredFailure.id].sort());
    for (const id of [expired.id, expiredFailure.id]) {
      assert.equal(await store.get(id), null, `record of ${id}`);
      assert.equal(await artifactExists(id), false, `artifacts of ${id}`);
      assert.equal(await uploadExists(id), false, `uploads of ${id}`);
    }
    for (const id of [stillRunning.id, finishedRecently.id, recent.id]) {
      assert.notEqual(await store.get(id), null, `record of ${id}`);
      assert.equal(await artifactExists(id), true, `artifacts of ${id}`);
    }
    const listed = await store.list({ limit: 100 });
    assert.ok(!listed.jobs.some((job) => job.id === expired.id), 'the index no longer lists a deleted job');
  });

  it('walks past a full batch', async () => {
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) ids.push((await createJob(daysAgo(30 - index), 'canceled', daysAgo(29 - index))).id);

    const deleted = await sweepExpiredJobs({ store, artifacts, retentionMs: 7 * DAY_MS, now: NOW, batchSize: 2 });

    for (const id of ids) assert.ok(deleted.includes(id), `job ${id} was not deleted`);
    assert.equal(await sweepExpiredJobs({ store, artifacts, retentionMs: 7 * DAY_MS, now: NOW, batchSize: 2 }).then((again) => again.length), 0);
  });
});
