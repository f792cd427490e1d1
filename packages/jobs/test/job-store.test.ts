import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { JobParamsSchema, type Job, type Metrics } from '@centroid/contracts';
import { Redis } from 'ioredis';
import { JobStore, buildQueuedJob, createApiConnection, createJobId } from '../src/index.js';
import { TEST_REDIS_URL, createTestPrefix, deleteKeys } from './redis-fixture.js';

const METRICS: Metrics = {
  baseline: null,
  clustered: null,
  size: { original_bytes: 10, original_gzip_bytes: 8, clustered_bytes: 10, clustered_gzip_bytes: 4, gzip_ratio: 2 },
  layers: [],
  fine_tuning: {
    performed: false,
    skipped_reason: 'no dataset',
    epochs: 0,
    train_samples: 0,
    available_train_samples: 0,
    validation_samples: 0,
    steps: 0,
    final_train_loss: null,
  },
  timings_ms: {},
  backend: { name: 'cpu', version: '4.22.0' },
  warnings: [],
};

function newJob(overrides: { webhookUrl?: string; now?: Date } = {}): Job {
  const params = JobParamsSchema.parse({
    number_of_clusters: 8,
    ...(overrides.webhookUrl === undefined ? {} : { webhook: { url: overrides.webhookUrl } }),
  });
  return buildQueuedJob({
    id: createJobId(overrides.now),
    params,
    model: { filename: 'model.h5', bytes: 10, sha256: 'a'.repeat(64) },
    dataset: null,
    ...(overrides.now === undefined ? {} : { now: overrides.now }),
  });
}

describe('JobStore', () => {
  const prefix = createTestPrefix();
  let redis: Redis;
  let store: JobStore;

  before(() => {
    redis = new Redis(TEST_REDIS_URL);
    store = new JobStore({ connection: redis, prefix });
  });

  after(async () => {
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  it('creates and reads a job', async () => {
    const job = newJob();
    await store.create(job);

    const read = await store.get(job.id);
    assert.deepEqual(read, job);
    assert.equal(read?.status, 'queued');
    assert.equal(read?.done, false);
    assert.equal(read?.urls.self, `/v1/jobs/${job.id}`);
  });

  it('returns null for an unknown job', async () => {
    assert.equal(await store.get(createJobId()), null);
  });

  it('rejects a second create with the same id', async () => {
    const job = newJob();
    await store.create(job);
    await assert.rejects(store.create(job), /already exists/);
  });

  it('rejects a stored record that breaks the schema', async () => {
    const id = createJobId();
    await redis.set(`${prefix}:job:${id}`, JSON.stringify({ id, status: 'exploded' }));
    await assert.rejects(store.get(id), (error: Error & { code?: string }) => error.code === 'INTERNAL');
  });

  it('sets timestamps on status transitions', async () => {
    const job = newJob();
    await store.create(job);

    const running = await store.setStatus(job.id, 'running');
    assert.equal(running?.changed, true);
    assert.equal(running?.job.status, 'running');
    assert.notEqual(running?.job.started_at, null);
    assert.equal(running?.job.done, false);

    const canceled = await store.setStatus(job.id, 'canceled');
    assert.equal(canceled?.job.status, 'canceled');
    assert.equal(canceled?.job.done, true);
    assert.notEqual(canceled?.job.finished_at, null);
  });

  it('keeps terminal jobs unchanged', async () => {
    const job = newJob();
    await store.create(job);
    await store.setStatus(job.id, 'canceled');

    const rerun = await store.setStatus(job.id, 'running');
    assert.equal(rerun?.changed, false);
    assert.equal(rerun?.job.status, 'canceled');

    const result = await store.setResult(job.id, METRICS, []);
    assert.equal(result?.changed, false);

    const failed = await store.setError(job.id, { code: 'INTERNAL', message: 'late failure' });
    assert.equal(failed?.changed, false);
    assert.equal((await store.get(job.id))?.error, null);
  });

  it('records progress only while running', async () => {
    const job = newJob();
    await store.create(job);
    const progress = { stage: 'loading' as const, percent: 5, epoch: null, epochs: null, batch: null, batches: null };

    const whileQueued = await store.setProgress(job.id, progress);
    assert.equal(whileQueued?.changed, false);

    await store.setStatus(job.id, 'running');
    const whileRunning = await store.setProgress(job.id, progress);
    assert.equal(whileRunning?.changed, true);
    assert.deepEqual((await store.get(job.id))?.progress, progress);
  });

  it('stores result and success in one write', async () => {
    const job = newJob();
    await store.create(job);
    await store.setStatus(job.id, 'running');
    const artifact = { name: 'model.h5', bytes: 3, sha256: 'b'.repeat(64), content_type: 'application/x-hdf5', url: '/x' };

    const result = await store.setResult(job.id, METRICS, [artifact]);
    assert.equal(result?.changed, true);

    const read = await store.get(job.id);
    assert.equal(read?.status, 'succeeded');
    assert.equal(read?.done, true);
    assert.deepEqual(read?.metrics, METRICS);
    assert.deepEqual(read?.artifacts, [artifact]);
  });

  it('stores the error of a failed job', async () => {
    const job = newJob();
    await store.create(job);
    await store.setStatus(job.id, 'running');

    await store.setError(job.id, { code: 'LAYER_NOT_CLUSTERABLE', message: 'dense_1 has 4 weights', layer: 'dense_1' });
    const read = await store.get(job.id);
    assert.equal(read?.status, 'failed');
    assert.equal(read?.error?.code, 'LAYER_NOT_CLUSTERABLE');
    assert.equal(read?.error?.layer, 'dense_1');
  });

  it('applies every concurrent update', async () => {
    const job = newJob({ webhookUrl: 'https://example.com/hook' });
    await store.create(job);

    await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        store.update(job.id, (current) => {
          const webhook = current.webhook;
          if (webhook === null) return null;
          const attempt = { at: new Date().toISOString(), status: 500 + index, error: null };
          return { ...current, webhook: { ...webhook, attempts: [...webhook.attempts, attempt] } };
        }),
      ),
    );

    const read = await store.get(job.id);
    assert.equal(read?.webhook?.attempts.length, 10);
  });

  it('pages newest first with a cursor', async () => {
    const pagePrefix = createTestPrefix();
    const pageStore = new JobStore({ connection: redis, prefix: pagePrefix });
    const jobs = Array.from({ length: 5 }, (_, index) => newJob({ now: new Date(Date.UTC(2025, 0, 1, 0, 0, index)) }));
    for (const job of jobs) await pageStore.create(job);

    try {
      const first = await pageStore.list({ limit: 2 });
      assert.deepEqual(first.jobs.map((job) => job.id), [jobs[4]?.id, jobs[3]?.id]);
      assert.notEqual(first.nextCursor, null);

      const second = await pageStore.list({ limit: 2, cursor: first.nextCursor ?? '' });
      assert.deepEqual(second.jobs.map((job) => job.id), [jobs[2]?.id, jobs[1]?.id]);

      const third = await pageStore.list({ limit: 2, cursor: second.nextCursor ?? '' });
      assert.deepEqual(third.jobs.map((job) => job.id), [jobs[0]?.id]);
      assert.equal(third.nextCursor, null);
    } finally {
      await deleteKeys(redis, pagePrefix);
    }
  });

  it('rejects a malformed cursor', async () => {
    await assert.rejects(store.list({ limit: 2, cursor: 'not-a-cursor' }), (error: Error & { code?: string }) => {
      return error.code === 'REQUEST_INVALID';
    });
  });

  it('reports Redis outage as SERVICE_UNAVAILABLE', async () => {
    // Port 1 on the loopback interface has no listener, so every command fails at once.
    const unreachable = createApiConnection('redis://127.0.0.1:1');
    unreachable.on('error', () => undefined);
    const offline = new JobStore({ connection: unreachable, prefix });
    try {
      await assert.rejects(offline.get(createJobId()), (error: Error & { code?: string }) => error.code === 'SERVICE_UNAVAILABLE');
    } finally {
      unreachable.disconnect();
    }
  });
});
