// Job records for route tests, created directly in the store without a worker.
import { JobParamsSchema, type Job, type Metrics } from '@centroid/contracts';
import { artifactPath, buildQueuedJob, createJobId, type JobStore } from '@centroid/jobs';

export const SAMPLE_METRICS: Metrics = {
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
  backend: { name: 'cpu', version: 'test' },
  warnings: [],
};

export async function createQueuedJob(store: JobStore, now?: Date): Promise<Job> {
  const job = buildQueuedJob({
    id: createJobId(now),
    params: JobParamsSchema.parse({ number_of_clusters: 8 }),
    model: { filename: 'model.h5', bytes: 64, sha256: '0'.repeat(64) },
    dataset: null,
    ...(now === undefined ? {} : { now }),
  });
  return store.create(job);
}

export async function createRunningJob(store: JobStore): Promise<Job> {
  const job = await createQueuedJob(store);
  const update = await store.setStatus(job.id, 'running');
  if (update === null) throw new Error(`job ${job.id} vanished`);
  return update.job;
}

export function artifactEntry(jobId: string, name: string, bytes: number, sha256: string, contentType: string): Job['artifacts'][number] {
  return { name, bytes, sha256, content_type: contentType, url: artifactPath(jobId, name) };
}
