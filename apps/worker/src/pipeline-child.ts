// Entry point of the child process that runs one job's pipeline. The worker forks it per job,
// so a crash, a leak or a hung native call in the pipeline cannot take the worker down.
// It loads `runPipeline` from CENTROID_PIPELINE_MODULE (default `@centroid/pipeline`), which
// tests point at fixture pipelines.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PipelineHooks, PipelineInput, PipelineResult } from '@centroid/pipeline';
import type { ChildMessage, RunMessage, SerializedError } from './child-messages.js';

type RunPipeline = (input: PipelineInput, hooks: PipelineHooks) => Promise<PipelineResult>;

export const DEFAULT_PIPELINE_MODULE = '@centroid/pipeline';

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    process.send?.(message, undefined, {}, (error) => (error === null ? resolve() : reject(error)));
  });
}

async function loadRunPipeline(specifier: string): Promise<RunPipeline> {
  // A file path must become a file URL, and a package name is imported as it is.
  const isPath = path.isAbsolute(specifier) || specifier.startsWith('.');
  const module = (await import(isPath ? pathToFileURL(path.resolve(specifier)).href : specifier)) as { runPipeline?: unknown };

  if (typeof module.runPipeline !== 'function') {
    throw new Error(`Pipeline module '${specifier}' does not export a runPipeline function.`);
  }
  return module.runPipeline as RunPipeline;
}

function serializeError(error: unknown): SerializedError {
  const candidate = error as { name?: unknown; code?: unknown; message?: unknown; location?: unknown; stack?: unknown } | null;
  const isCentroidError = candidate?.name === 'CentroidError' && typeof candidate.code === 'string';
  const message = typeof candidate?.message === 'string' ? candidate.message : String(error);

  return {
    code: isCentroidError ? (candidate.code as SerializedError['code']) : 'INTERNAL',
    message: isCentroidError ? message : `The pipeline failed unexpectedly: ${message}`,
    location: isCentroidError && typeof candidate.location === 'object' && candidate.location !== null ? candidate.location : {},
    stack: typeof candidate?.stack === 'string' ? candidate.stack : null,
  };
}

async function run(input: PipelineInput): Promise<void> {
  const specifier = process.env.CENTROID_PIPELINE_MODULE ?? DEFAULT_PIPELINE_MODULE;

  try {
    const runPipeline = await loadRunPipeline(specifier);
    const result = await runPipeline(input, {
      onProgress: (progress) => void send({ type: 'progress', progress }),
      onLog: (level, message, fields) => void send({ type: 'log', level, message, fields: fields ?? {} }),
    });
    await send({ type: 'log', level: 'info', message: 'pipeline finished', fields: { backend: result.metrics.backend } });
    await send({ type: 'result', result });
  } catch (error) {
    await send({ type: 'error', error: serializeError(error) });
  }

  // The pipeline may leave handles open (a TensorFlow thread pool, timers), so the process
  // exits explicitly once the outcome has been delivered.
  process.exit(0);
}

process.once('message', (message: RunMessage) => {
  if (message?.type !== 'run') {
    process.exit(2);
  }
  void run(message.input);
});
