// Runs one job's pipeline in a forked child process and turns what the child reports into a
// result or a CentroidError. A child that dies without reporting becomes WORKER_CRASHED.
import { fork, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CentroidError, type Progress } from '@centroid/contracts';
import type { LogLevel, PipelineInput, PipelineResult } from '@centroid/pipeline';
import { parseChildMessage, type ChildMessage, type RunMessage } from './child-messages.js';

const CHILD_ENTRY = fileURLToPath(new URL('./pipeline-child.ts', import.meta.url));

// Resolved here rather than by the child, so the child finds tsx whatever its working directory.
const TSX_LOADER = import.meta.resolve('tsx');

// A child that reported its outcome but has not exited after this long is killed.
const EXIT_GRACE_MS = 5000;

const STDERR_TAIL_LINES = 20;

// Settings that only the worker needs. The pipeline child must not see them.
const WORKER_ONLY_ENV = ['CENTROID_WEBHOOK_SECRET'];

export interface ChildRunOptions {
  input: PipelineInput;
  /** Module that exports runPipeline. @defaultValue `@centroid/pipeline` */
  pipelineModule?: string;
  onProgress: (progress: Progress) => void;
  onLog: (level: LogLevel, message: string, fields: Record<string, unknown>) => void;
  /** Receives each line that the child writes to stdout or stderr. */
  onOutput?: (stream: 'stdout' | 'stderr', line: string) => void;
  /** Kills the child. The run then raises JOB_CANCELED, or `signal.reason` when it is a CentroidError. */
  signal?: AbortSignal;
}

/** Forks the pipeline child, sends it the input and waits for its result and its exit. */
export function runPipelineInChild(options: ChildRunOptions): Promise<PipelineResult> {
  return new Promise<PipelineResult>((resolve, reject) => {
    const child = fork(CHILD_ENTRY, [], {
      execArgv: ['--import', TSX_LOADER],
      env: childEnvironment(options.pipelineModule),
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });

    let outcome: { result: PipelineResult } | { error: CentroidError } | null = null;
    let exitTimer: NodeJS.Timeout | undefined;
    const stderrTail: string[] = [];

    forwardOutput(child, (stream, line) => {
      if (stream === 'stderr') {
        stderrTail.push(line);
        if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
      }
      options.onOutput?.(stream, line);
    });

    const settle = (next: { result: PipelineResult } | { error: CentroidError }): void => {
      if (outcome !== null) return;
      outcome = next;
      exitTimer = setTimeout(() => child.kill('SIGKILL'), EXIT_GRACE_MS);
    };

    const abort = (): void => {
      const reason: unknown = options.signal?.reason;
      settle({ error: reason instanceof CentroidError ? reason : new CentroidError('JOB_CANCELED', 'The job was canceled.') });
      child.kill('SIGKILL');
    };
    if (options.signal?.aborted === true) abort();
    else options.signal?.addEventListener('abort', abort, { once: true });

    child.on('message', (raw: unknown) => {
      let message: ChildMessage;
      try {
        message = parseChildMessage(raw);
      } catch (error) {
        settle({ error: new CentroidError('INTERNAL', `The pipeline sent an invalid message: ${(error as Error).message}`) });
        child.kill('SIGKILL');
        return;
      }

      if (message.type === 'progress') options.onProgress(message.progress);
      if (message.type === 'log') options.onLog(message.level, message.message, message.fields);
      if (message.type === 'result') settle({ result: message.result });
      if (message.type === 'error') {
        const { code, message: text, location, stack } = message.error;
        if (stack !== null) options.onLog('debug', 'pipeline error stack', { stack });
        settle({ error: new CentroidError(code, text, location) });
      }
    });

    child.on('error', (error) => {
      settle({ error: new CentroidError('WORKER_CRASHED', `The pipeline process failed: ${error.message}`) });
      child.kill('SIGKILL');
    });

    child.on('exit', (code, signal) => {
      clearTimeout(exitTimer);
      options.signal?.removeEventListener('abort', abort);

      if (outcome === null) {
        const how = signal === null ? `with code ${code}` : `on signal ${signal}`;
        options.onLog('error', 'pipeline process exited without a result', { code, signal, stderr: stderrTail.join('\n') });
        reject(new CentroidError('WORKER_CRASHED', `The pipeline process exited ${how} before reporting a result.`));
        return;
      }
      if ('result' in outcome) resolve(outcome.result);
      else reject(outcome.error);
    });

    const run: RunMessage = { type: 'run', input: options.input };
    child.send(run);
  });
}

function childEnvironment(pipelineModule: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of WORKER_ONLY_ENV) delete env[name];
  if (pipelineModule !== undefined) env.CENTROID_PIPELINE_MODULE = pipelineModule;
  return env;
}

function forwardOutput(child: ChildProcess, onLine: (stream: 'stdout' | 'stderr', line: string) => void): void {
  for (const stream of ['stdout', 'stderr'] as const) {
    const source = child[stream];
    if (source === null) continue;
    createInterface({ input: source }).on('line', (line) => onLine(stream, line));
  }
}
