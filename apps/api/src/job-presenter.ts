// Job records store URLs as paths. Responses carry absolute URLs built on the public URL of
// the service, or on the request's own scheme and host when none is configured.
import type { Job } from '@centroid/contracts';
import type { FastifyRequest } from 'fastify';

export function baseUrlOf(request: FastifyRequest, publicUrl: string | undefined): string {
  if (publicUrl !== undefined) return publicUrl.replace(/\/+$/, '');
  return `${request.protocol}://${request.host}`;
}

/** Returns a copy of the job with every URL made absolute. Already absolute URLs stay as they are. */
export function presentJob(job: Job, baseUrl: string): Job {
  const absolute = (url: string): string => (url.startsWith('/') ? `${baseUrl}${url}` : url);

  return {
    ...job,
    urls: { self: absolute(job.urls.self), artifacts: absolute(job.urls.artifacts) },
    artifacts: job.artifacts.map((artifact) => ({ ...artifact, url: absolute(artifact.url) })),
  };
}
