// A worker with its own Redis prefix, data folder and the fixture pipeline, plus helpers to
// submit jobs the way the API does, so worker tests need no HTTP server.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { JobParamsSchema, type Job, type JobParamsInput } from '@centroid/contracts';
import {
  ArtifactStore,
  CancelSignal,
  ClusterQueue,
  JobStore,
  buildQueuedJob,
  createJobId,
  createWorkerConnection,
  type RedisConnection,
} from '@centroid/jobs';
import { pino } from 'pino';
import { startWorker, type RunningWorker, type WorkerOptions } from '../src/index.js';

export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const FIXTURE_PIPELINE = fileURLToPath(new URL('./fixtures/fixture-pipeline.ts', import.meta.url));

export interface WorkerFixture {
  worker: RunningWorker;
  redis: RedisConnection;
  /** Redis key prefix of this fixture's jobs, queue and worker records. */
  prefix: string;
  store: JobStore;
  queue: ClusterQueue;
  artifacts: ArtifactStore;
  cancelSignal: CancelSignal;
  dataDir: string;
  submit: (modelFilename: string, params?: JobParamsInput) => Promise<Job>;
  waitForJob: (jobId: string, until?: (job: Job) => boolean, timeoutMs?: number) => Promise<Job>;
  close: () => Promise<void>;
}

export async function createWorkerFixture(overrides: Partial<WorkerOptions> = {}): Promise<WorkerFixture> {
  const prefix = `centroid-test-${randomUUID()}`;
  const dataDir = await mkdtemp(path.join(tmpdir(), 'centroid-worker-'));
  const redis = createWorkerConnection(TEST_REDIS_URL);
  const store = new JobStore({ connection: redis, prefix });
  const queue = new ClusterQueue({ connection: redis, prefix });
  const artifacts = new ArtifactStore({ root: dataDir });
  const cancelSignal = new CancelSignal({ connection: redis, prefix });

  const worker = await startWorker({
    redisUrl: TEST_REDIS_URL,
    prefix,
    dataDir,
    pipelineModule: FIXTURE_PIPELINE,
    progressIntervalMs: 50,
    cancelPollIntervalMs: 200,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    ...overrides,
  });

  const submit = async (modelFilename: string, params: JobParamsInput = { number_of_clusters: 8 }): Promise<Job> => {
    const jobId = createJobId();
    const model = await artifacts.saveUpload({
      jobId,
      field: 'model',
      filename: modelFilename,
      source: Readable.from([Buffer.from(`model bytes of ${modelFilename}`)]),
      maxBytes: 1024,
    });
    const job = await store.create(
      buildQueuedJob({
        id: jobId,
        params: JobParamsSchema.parse(params),
        model: { filename: model.filename, bytes: model.bytes, sha256: model.sha256 },
        dataset: null,
      }),
    );
    await queue.add({ jobId, model: { path: model.path, filename: model.filename }, dataset: null });
    return job;
  };

  const waitForJob = async (jobId: string, until: (job: Job) => boolean = (job) => job.done, timeoutMs = 30_000): Promise<Job> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await store.get(jobId);
      if (job !== null && until(job)) return job;
      if (Date.now() > deadline) throw new Error(`job ${jobId} did not reach the expected state within ${timeoutMs} ms: ${JSON.stringify(job?.status)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const close = async (): Promise<void> => {
    await worker.close(5000);
    await queue.obliterate();
    await queue.close();
    await deleteKeys(redis, prefix);
    await redis.quit();
    await rm(dataDir, { recursive: true, force: true });
  };

  return { worker, redis, prefix, store, queue, artifacts, cancelSignal, dataDir, submit, waitForJob, close };
}

async function deleteKeys(redis: RedisConnection, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
