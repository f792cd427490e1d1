// Runs one job from the cluster queue: claims its record, runs the pipeline in a child process,
// publishes the artifacts and records the outcome. It never raises for a pipeline failure,
// because that failure belongs to the job and not to the worker. Only a lost Redis or disk
// error escapes, and BullMQ logs it as a failed queue job.
import path from 'node:path';
import { CentroidError, type ClusterJobData, type Job, type JobError, type JobWorker } from '@centroid/contracts';
import { applyStatus, artifactPath, type ArtifactStore, type JobStore, type CancelSignal, type ServiceCounters } from '@centroid/jobs';
import type { PipelineResult } from '@centroid/pipeline';
import type { Logger } from 'pino';
import type { CancelWatcher } from './cancel-watcher.js';
import { runPipelineInChild } from './child-runner.js';
import { ProgressWriter } from './progress-writer.js';
import type { WebhookSender } from './webhook-sender.js';

export interface ClusterJobProcessorOptions {
  store: JobStore;
  artifacts: ArtifactStore;
  cancelSignal: CancelSignal;
  cancelWatcher: CancelWatcher;
  webhooks: WebhookSender;
  /** Counts finished jobs for the API's /metrics. */
  counters: Pick<ServiceCounters, 'recordJobFinished'>;
  /** This worker's id and backend, recorded on each job it starts. */
  worker: JobWorker;
  /** Module that exports runPipeline. @defaultValue `@centroid/pipeline` */
  pipelineModule?: string;
  /** Minimum time between progress writes within one stage, in milliseconds. @defaultValue 250 */
  progressIntervalMs?: number;
  log: Logger;
}

const SHUTDOWN_ERROR = new CentroidError(
  'WORKER_CRASHED',
  'The worker shut down before the job finished. Submit the job again.',
);

export class ClusterJobProcessor {
  private readonly running = new Map<string, AbortController>();

  constructor(private readonly options: ClusterJobProcessorOptions) {}

  async process(data: ClusterJobData): Promise<void> {
    const { artifacts } = this.options;
    const log = this.options.log.child({ jobId: data.jobId });

    const claimed = await this.claim(data.jobId, log);
    if (claimed === null) {
      await artifacts.removeUploads(data.jobId);
      await this.finishSkippedJob(data.jobId);
      return;
    }

    const finished = await this.runClaimed(claimed, data, log);

    await artifacts.removeUploads(data.jobId);
    if (finished !== null) {
      log.info({ status: finished.status, code: finished.error?.code ?? null }, 'job finished');
      await this.options.counters.recordJobFinished(finished.status, runSeconds(finished));
      await this.options.webhooks.send(finished);
    } else {
      log.warn('job record disappeared while the job ran');
    }
  }

  /**
   * Counts a job that was canceled while queued and sends its webhook, because the API that
   * canceled it does neither. Adding an event already queued does nothing, so a job taken
   * twice gets one delivery.
   */
  private async finishSkippedJob(jobId: string): Promise<void> {
    const job = await this.options.store.get(jobId);
    if (job?.status !== 'canceled' || job.started_at !== null) return;

    if (job.webhook === null || job.webhook.attempts.length === 0) await this.options.counters.recordJobFinished('canceled', null);
    if (job.webhook !== null && job.webhook.attempts.length === 0) await this.options.webhooks.send(job);
  }

  /** Kills every running pipeline. Their jobs are then marked failed (WORKER_CRASHED) because the worker is shutting down. */
  abortAll(): void {
    for (const controller of this.running.values()) controller.abort(SHUTDOWN_ERROR);
  }

  private async claim(jobId: string, log: Logger): Promise<Job | null> {
    const current = await this.options.store.get(jobId);
    if (current === null) {
      log.warn('job record not found, so the queued job is skipped');
      return null;
    }
    if (current.done) {
      log.info({ status: current.status }, 'job already finished, so it is skipped');
      return null;
    }

    const { worker } = this.options;
    const update = await this.options.store.update(jobId, (job) => {
      const running = applyStatus(job, 'running');
      return running === null ? null : { ...running, worker };
    });
    if (update === null || !update.changed) {
      log.info({ status: update?.job.status ?? null }, 'job could not be claimed, so it is skipped');
      return null;
    }
    if (current.status === 'running') log.warn('job was running on a worker that stopped, so it starts again');
    log.info('job started');
    return update.job;
  }

  private async runClaimed(job: Job, data: ClusterJobData, log: Logger): Promise<Job | null> {
    const { store, artifacts, cancelSignal, cancelWatcher } = this.options;

    const controller = new AbortController();
    this.running.set(job.id, controller);
    const stopWatching = cancelWatcher.watch(job.id, () => controller.abort());
    const progress = new ProgressWriter(store, job.id, this.options.progressIntervalMs ?? 250, log);
    // A worker killed while running this job may have left its output behind.
    await artifacts.removeWorkDirsOf(job.id);
    const workDir = await artifacts.createWorkDir(job.id);

    try {
      const result = await runPipelineInChild({
        input: {
          modelPath: data.model.path,
          modelFilename: data.model.filename,
          datasetPath: data.dataset?.path ?? null,
          datasetFilename: data.dataset?.filename ?? null,
          params: job.params,
          outDir: workDir,
        },
        ...(this.options.pipelineModule === undefined ? {} : { pipelineModule: this.options.pipelineModule }),
        onProgress: (update) => progress.push(update),
        onLog: (level, message, fields) => log[level]({ stage: progress.stage, ...fields, source: 'pipeline' }, message),
        onOutput: (stream, line) => log.debug({ stage: progress.stage, stream, source: 'pipeline' }, line),
        signal: controller.signal,
      });
      await progress.flush();

      if (controller.signal.aborted) throw controller.signal.reason ?? new CentroidError('JOB_CANCELED', 'The job was canceled.');
      return await this.publish(job.id, result, workDir, log);
    } catch (error) {
      await progress.flush();
      return await this.recordFailure(job.id, error, log);
    } finally {
      stopWatching();
      this.running.delete(job.id);
      await artifacts.removeWorkDir(workDir);
      await cancelSignal.clear(job.id);
    }
  }

  /** Stores the artifacts, then marks the job succeeded, so no reader sees success without them. */
  private async publish(jobId: string, result: PipelineResult, workDir: string, log: Logger): Promise<Job | null> {
    const { store, artifacts } = this.options;

    for (const artifact of result.artifacts) {
      const relative = path.relative(workDir, path.resolve(workDir, artifact.path));
      if (relative.startsWith('..') || path.isAbsolute(relative)) {
        throw new CentroidError('INTERNAL', `The pipeline reported artifact '${artifact.name}' outside its output folder.`);
      }
    }

    const published = await artifacts.publishArtifacts(
      jobId,
      result.artifacts.map((artifact) => ({ ...artifact, path: path.resolve(workDir, artifact.path) })),
    );
    const entries = published.map((artifact) => ({
      name: artifact.name,
      bytes: artifact.bytes,
      sha256: artifact.sha256,
      content_type: artifact.contentType,
      url: artifactPath(jobId, artifact.name),
    }));

    const update = await store.setResult(jobId, result.metrics, entries);
    if (update !== null && !update.changed) {
      // The job was canceled or failed meanwhile, so its artifacts must not stay visible.
      log.warn({ status: update.job.status }, 'job ended elsewhere before its result was stored, so the artifacts are removed');
      await artifacts.removeArtifacts(jobId);
    }
    log.info({ backend: result.metrics.backend, artifacts: entries.map((entry) => entry.name) }, 'artifacts published');
    return update?.job ?? null;
  }

  private async recordFailure(jobId: string, error: unknown, log: Logger): Promise<Job | null> {
    const { store, artifacts } = this.options;

    // Artifacts exist here only when storing the result failed after publishing them.
    await artifacts.removeArtifacts(jobId);

    if (error instanceof CentroidError && error.code === 'JOB_CANCELED') {
      log.info('pipeline stopped because the job was canceled');
      return (await store.setStatus(jobId, 'canceled'))?.job ?? null;
    }

    const jobError = toJobError(error);
    if (jobError.code === 'INTERNAL' || jobError.code === 'WORKER_CRASHED') log.error({ err: error, code: jobError.code }, 'job failed');
    else log.info({ code: jobError.code, detail: jobError.message }, 'job failed');
    return (await store.setError(jobId, jobError))?.job ?? null;
  }
}

function toJobError(error: unknown): JobError {
  if (error instanceof CentroidError) return { code: error.code, message: error.message, ...error.location };
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'INTERNAL', message: `The worker failed while running the job: ${message}` };
}

/** Returns the seconds from a job's start to its end, or null when either is missing. */
function runSeconds(job: Job): number | null {
  if (job.started_at === null || job.finished_at === null) return null;
  return (Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000;
}
