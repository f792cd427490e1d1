// Messages between the worker and its pipeline child process over the IPC channel. The child
// runs user-supplied models, so the worker validates every message before trusting it.
import { ERROR_CODES, MetricsSchema, ProgressSchema, type ErrorCode, type ErrorLocation, type Progress } from '@centroid/contracts';
import type { LogLevel, PipelineInput, PipelineResult } from '@centroid/pipeline';

/** Worker to child: run this job. */
export interface RunMessage {
  type: 'run';
  input: PipelineInput;
}

/** A pipeline error reduced to what survives the trip between processes. */
export interface SerializedError {
  code: ErrorCode;
  message: string;
  location: ErrorLocation;
  /** Stack trace for the worker's log, never shown to users. */
  stack: string | null;
}

export type ChildMessage =
  | { type: 'progress'; progress: Progress }
  | { type: 'log'; level: LogLevel; message: string; fields: Record<string, unknown> }
  | { type: 'result'; result: PipelineResult }
  | { type: 'error'; error: SerializedError };

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Validates a message from the child. Raises with a description of the first problem found. */
export function parseChildMessage(value: unknown): ChildMessage {
  const message = value as Record<string, unknown> | null;
  if (typeof message !== 'object' || message === null) throw new Error('child message is not an object');

  switch (message.type) {
    case 'progress':
      return { type: 'progress', progress: ProgressSchema.parse(message.progress) };

    case 'log': {
      const level = LOG_LEVELS.includes(message.level as LogLevel) ? (message.level as LogLevel) : 'info';
      const fields = typeof message.fields === 'object' && message.fields !== null ? (message.fields as Record<string, unknown>) : {};
      return { type: 'log', level, message: String(message.message), fields };
    }

    case 'result':
      return { type: 'result', result: parseResult(message.result) };

    case 'error':
      return { type: 'error', error: parseError(message.error) };

    default:
      throw new Error(`unknown child message type '${String(message.type)}'`);
  }
}

function parseResult(value: unknown): PipelineResult {
  const result = value as { metrics?: unknown; artifacts?: unknown } | null;
  if (typeof result !== 'object' || result === null || !Array.isArray(result.artifacts)) {
    throw new Error('pipeline result has no artifacts list');
  }

  const artifacts = result.artifacts.map((entry: unknown) => {
    const artifact = entry as Record<string, unknown>;
    if (typeof artifact.name !== 'string' || typeof artifact.path !== 'string' || typeof artifact.contentType !== 'string') {
      throw new Error('pipeline artifact needs string name, path and contentType');
    }
    return { name: artifact.name, path: artifact.path, contentType: artifact.contentType };
  });
  return { metrics: MetricsSchema.parse(result.metrics), artifacts };
}

function parseError(value: unknown): SerializedError {
  const error = (value ?? {}) as Record<string, unknown>;
  const code = typeof error.code === 'string' && error.code in ERROR_CODES ? (error.code as ErrorCode) : 'INTERNAL';
  const location = (typeof error.location === 'object' && error.location !== null ? error.location : {}) as Record<string, unknown>;

  return {
    code,
    message: typeof error.message === 'string' ? error.message : 'The pipeline failed without a message.',
    location: {
      ...(typeof location.field === 'string' ? { field: location.field } : {}),
      ...(typeof location.layer === 'string' ? { layer: location.layer } : {}),
      ...(typeof location.file === 'string' ? { file: location.file } : {}),
    },
    stack: typeof error.stack === 'string' ? error.stack : null,
  };
}
