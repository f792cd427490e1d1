// POST /v1/jobs/{id}/cancel. A queued job is canceled at once (200). A running job is
// canceled by its worker, which kills the pipeline and then marks the job canceled, so the
// API signals the worker and returns the job still running (202). Repeating the request is
// harmless, and a finished job is returned unchanged (200).
import { applyStatus, isJobId } from '@centroid/jobs';
import type { FastifyInstance } from 'fastify';
import type { RouteDependencies } from '../dependencies.js';
import { baseUrlOf, presentJob } from '../job-presenter.js';
import { jobNotFound } from './read-jobs.js';

export function registerCancelJobRoute(app: FastifyInstance, { store, cancelSignal, publicUrl }: RouteDependencies): void {
  app.post<{ Params: { id: string } }>('/v1/jobs/:id/cancel', async (request, reply) => {
    const { id } = request.params;
    const update = isJobId(id) ? await store.update(id, (job) => (job.status === 'queued' ? applyStatus(job, 'canceled') : null)) : null;
    if (update === null) throw jobNotFound(id);

    const { job, changed } = update;
    const baseUrl = baseUrlOf(request, publicUrl);

    if (changed) request.log.info({ jobId: id }, 'queued job canceled');
    if (job.status !== 'running') return reply.code(200).send(presentJob(job, baseUrl));

    await cancelSignal.request(id);
    request.log.info({ jobId: id }, 'cancellation of running job requested');
    return reply.code(202).send(presentJob(job, baseUrl));
  });
}
