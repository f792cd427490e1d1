// The job record as the API creates it. URLs are stored as paths because the public host
// is known only when the record is served; the API turns them into absolute URLs.
import type { Job, JobParams, Upload } from '@centroid/contracts';

export interface NewJob {
  id: string;
  /** Parameters as applied, defaults filled in. */
  params: JobParams;
  model: Upload;
  dataset: Upload | null;
  /** Creation time. @defaultValue now */
  now?: Date;
}

export function jobPath(id: string): string {
  return `/v1/jobs/${id}`;
}

export function artifactPath(id: string, name: string): string {
  return `${jobPath(id)}/artifacts/${encodeURIComponent(name)}`;
}

/** Builds the record of a job that was just accepted and is waiting in the queue. */
export function buildQueuedJob(input: NewJob): Job {
  const now = input.now ?? new Date();
  const webhookUrl = input.params.webhook?.url;

  return {
    id: input.id,
    status: 'queued',
    done: false,
    created_at: now.toISOString(),
    started_at: null,
    finished_at: null,
    params: input.params,
    inputs: { model: input.model, dataset: input.dataset },
    progress: null,
    metrics: null,
    artifacts: [],
    error: null,
    webhook: webhookUrl === undefined ? null : { url: webhookUrl, delivered: false, attempts: [] },
    urls: { self: jobPath(input.id), artifacts: `${jobPath(input.id)}/artifacts` },
  };
}

/** Returns a copy of the job whose path URLs are prefixed with `baseUrl`. Absolute URLs stay as they are. */
export function withAbsoluteUrls(job: Job, baseUrl: string): Job {
  const base = baseUrl.replace(/\/+$/, '');
  const absolute = (url: string): string => (url.startsWith('/') ? `${base}${url}` : url);

  return {
    ...job,
    urls: { self: absolute(job.urls.self), artifacts: absolute(job.urls.artifacts) },
    artifacts: job.artifacts.map((artifact) => ({ ...artifact, url: absolute(artifact.url) })),
  };
}
