// Job records store URLs as paths. Responses carry absolute URLs built on the public URL of
// the service, or on the request's own scheme and host when none is configured. Every
// response has the `worker` field, null until a worker starts the job.
import type { Job } from '@centroid/contracts';
import { withAbsoluteUrls } from '@centroid/jobs';
import type { FastifyRequest } from 'fastify';

export function baseUrlOf(request: FastifyRequest, publicUrl: string | undefined): string {
  if (publicUrl !== undefined) return publicUrl.replace(/\/+$/, '');
  return `${request.protocol}://${request.host}`;
}

export function presentJob(job: Job, baseUrl: string): Job {
  return { ...withAbsoluteUrls(job, baseUrl), worker: job.worker ?? null };
}
