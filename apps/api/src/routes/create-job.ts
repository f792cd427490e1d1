// POST /v1/jobs: validates and stores a submission, then queues it. Every rejection happens
// here, before anything is queued, and removes what was stored. A retry with the same
// Idempotency-Key gets the job of the first request.
import { createHash } from 'node:crypto';
import { createJobId, buildQueuedJob, jobPath } from '@centroid/jobs';
import type { FastifyInstance } from 'fastify';
import type { RouteDependencies } from '../dependencies.js';
import { baseUrlOf, presentJob } from '../job-presenter.js';
import { notMultipart, readJobSubmission, type JobSubmission } from '../job-submission.js';
import { jobNotFound } from './read-jobs.js';
import { CentroidError } from '@centroid/contracts';

export function registerCreateJobRoute(app: FastifyInstance, dependencies: RouteDependencies): void {
  const { store, queue, artifacts, idempotency, limits, inspectModel, inspectDataset, publicUrl, allowPrivateWebhooks } = dependencies;

  app.post('/v1/jobs', async (request, reply) => {
    if (!request.isMultipart()) {
      throw notMultipart(request.headers['content-type']);
    }

    const idempotencyKey = readIdempotencyKey(request.headers['idempotency-key']);
    const claim = idempotencyKey === null ? null : await idempotency.claim(idempotencyKey);
    if (claim?.kind === 'in_flight') {
      throw new CentroidError('IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still being handled. Retry after it ends.', {
        field: 'Idempotency-Key',
      });
    }

    const jobId = createJobId();
    let recordCreated = false;

    try {
      const submission = await readJobSubmission(request, jobId, artifacts, limits, allowPrivateWebhooks);
      const fingerprint = fingerprintOf(submission);
      if (claim?.kind === 'completed') {
        // A retry: the uploads of this request are not needed, whatever the outcome.
        await discardSubmission(jobId, false, dependencies, request.log);
        return await replay(claim, fingerprint);
      }
      await inspectModel(submission.model.path, submission.model.filename, submission.params, submission.modelWeightParts);
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
      if (idempotencyKey !== null) await idempotency.complete(idempotencyKey, fingerprint, jobId);

      return reply.code(202).header('location', jobPath(jobId)).send(presentJob(job, baseUrlOf(request, publicUrl)));
    } catch (error) {
      await discardSubmission(jobId, recordCreated, dependencies, request.log);
      if (claim?.kind === 'claimed' && idempotencyKey !== null) {
        // No job was created, so a retry with the same key is handled afresh.
        await idempotency.release(idempotencyKey, claim.token).catch((releaseError: unknown) =>
          request.log.error({ err: releaseError, jobId }, 'failed to release the idempotency key of a rejected request'),
        );
      }
      throw error;
    }

    async function replay(earlier: { fingerprint: string; jobId: string }, fingerprint: string) {
      if (earlier.fingerprint !== fingerprint) {
        throw new CentroidError(
          'IDEMPOTENCY_KEY_REUSED',
          `This Idempotency-Key was used for another request, which created job ${earlier.jobId}. Use a new key for a different request.`,
          { field: 'Idempotency-Key' },
        );
      }
      const job = await store.get(earlier.jobId);
      if (job === null) throw jobNotFound(earlier.jobId);
      request.log.info({ jobId: earlier.jobId }, 'submission replayed for its idempotency key');
      return reply
        .code(202)
        .header('location', jobPath(earlier.jobId))
        .header('idempotent-replayed', 'true')
        .send(presentJob(job, baseUrlOf(request, publicUrl)));
    }
  });
}

const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** Returns the Idempotency-Key header, or null without one. Raises for a malformed key. */
function readIdempotencyKey(header: string | string[] | undefined): string | null {
  if (header === undefined) return null;
  if (Array.isArray(header) || !IDEMPOTENCY_KEY_PATTERN.test(header)) {
    throw new CentroidError('REQUEST_INVALID', 'Invalid Idempotency-Key: expected one value of 1 to 255 visible ASCII characters, such as a UUID.', {
      field: 'Idempotency-Key',
    });
  }
  return header;
}

/** Returns a digest of what makes two submissions the same: the parameters as applied and the files' contents. */
function fingerprintOf(submission: JobSubmission): string {
  const files = [submission.model, submission.dataset].map((file) => (file === null ? null : { filename: file.filename, sha256: file.sha256 }));
  return createHash('sha256').update(JSON.stringify({ params: submission.params, files })).digest('hex');
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
