// POST /v1/jobs: validates and stores a submission, then queues it. Every rejection happens
// here, before anything is queued, and removes what was stored.
import { createJobId, buildQueuedJob, jobPath } from '@centroid/jobs';
import type { FastifyInstance } from 'fastify';
import type { RouteDependencies } from '../dependencies.js';
import { baseUrlOf, presentJob } from '../job-presenter.js';
import { readJobSubmission } from '../job-submission.js';
import { CentroidError } from '@centroid/contracts';

export function registerCreateJobRoute(app: FastifyInstance, dependencies: RouteDependencies): void {
  const { store, queue, artifacts, limits, inspectModel, inspectDataset, publicUrl, allowPrivateWebhooks } = dependencies;

  app.post('/v1/jobs', async (request, reply) => {
    if (!request.isMultipart()) {
      throw new CentroidError('UPLOAD_NOT_MULTIPART', 'Expected a multipart/form-data body with the parts params, model and dataset.');
    }

    const jobId = createJobId();
    let recordCreated = false;

    try {
      const submission = await readJobSubmission(request, jobId, artifacts, limits, allowPrivateWebhooks);
      await inspectModel(submission.model.path, submission.model.filename, submission.params);
      if (submission.dataset !== null) {
        await inspectDataset(submission.dataset.path, submission.dataset.filename, submission.params);
      }

      const job = buildQueuedJob({
        id: jobId,
        params: submission.params,
        model: { filename: submission.model.filename, bytes: submission.model.bytes, sha256: submission.model.sha256 },
        dataset:
          submission.dataset === null
            ? null
            : { filename: submission.dataset.filename, bytes: submission.dataset.bytes, sha256: submission.dataset.sha256 },
      });
      await store.create(job);
      recordCreated = true;

      await queue.add({
        jobId,
        model: { path: submission.model.path, filename: submission.model.filename },
        dataset: submission.dataset === null ? null : { path: submission.dataset.path, filename: submission.dataset.filename },
      });
      request.log.info({ jobId, modelBytes: job.inputs.model.bytes, datasetBytes: job.inputs.dataset?.bytes ?? null }, 'job queued');

      return reply.code(202).header('location', jobPath(jobId)).send(presentJob(job, baseUrlOf(request, publicUrl)));
    } catch (error) {
      await discardSubmission(jobId, recordCreated, dependencies, request.log);
      throw error;
    }
  });
}

async function discardSubmission(
  jobId: string,
  recordCreated: boolean,
  { store, artifacts }: RouteDependencies,
  log: FastifyInstance['log'],
): Promise<void> {
  await artifacts.removeUploads(jobId).catch((error: unknown) => log.error({ err: error, jobId }, 'failed to remove uploads of a rejected job'));
  if (recordCreated) {
    await store.delete(jobId).catch((error: unknown) => log.error({ err: error, jobId }, 'failed to delete the record of a job that was not queued'));
  }
}
