// Runs one task in a child Node process that can be killed. The HDF5 library can loop
// forever on a crafted file, and a synchronous WebAssembly loop cannot be interrupted
// from the same thread. Worker threads would do, but tsx 4.23 on Node 20 registers its
// loader only on the main thread, while a forked process inherits the loader flags.
import { fork } from 'node:child_process';

import { CentroidError } from '@centroid/contracts';

import type { ErrorCode, ErrorLocation } from '@centroid/contracts';

/** The message a child sends back: the task's result or its error. */
export type ChildReply =
  | { ok: true; result: unknown }
  | {
      ok: false;
      error: { name: string; message: string; stack?: string; code?: ErrorCode; location?: ErrorLocation };
    };

/** A task request: the name of a registered task and its arguments. */
export interface ChildRequest {
  task: string;
  args: unknown[];
}

export interface RunInChildOptions {
  /** Time in milliseconds after which the child is killed and the task fails. */
  timeoutMs: number;
  /** Builds the error that reports a child that timed out or exited without replying. */
  describeFailure: (failure: { timedOut: boolean; exitCode: number | null; signal: string | null; stderr: string }) => Error;
}

/** Maximum number of stderr characters that a failure report keeps. */
const STDERR_TAIL_CHARS = 2000;

/**
 * Keeps the loader flags of the parent (such as `--import tsx`) so the child can load
 * the same modules. Drops test-runner flags, which would make the child a test runner,
 * and inspector flags, whose port the parent already uses.
 */
function childExecArgv(): string[] {
  return process.execArgv.filter((argument) => !argument.startsWith('--test') && !argument.startsWith('--inspect'));
}

function childEnv(): NodeJS.ProcessEnv {
  // The Node test runner sets this variable in the test processes it starts. The child
  // runs no tests, so it does not inherit the variable.
  const { NODE_TEST_CONTEXT: _testContext, ...env } = process.env;
  return env;
}

/** Forks `entry`, sends it `request` and resolves with the result it sends back. */
export function runInChild<T>(entry: URL, request: ChildRequest, options: RunInChildOptions): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // NOTE: the deadline lives in the parent. If the parent dies while a child is stuck
    // in a loop, nothing stops that child.
    const child = fork(entry, [], {
      execArgv: childExecArgv(),
      env: childEnv(),
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });

    let stderr = '';
    let settled = false;
    let timedOut = false;

    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS);
    });

    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);

    const settle = (outcome: () => void) => {
      if (settled) {
        return;
      }
      settled = true;
      clearTimeout(timer);
      outcome();
    };

    child.on('message', (message: ChildReply) => {
      settle(() => (message.ok ? resolve(message.result as T) : reject(rebuildError(message.error))));
      child.disconnect();
    });

    child.on('error', (error) => settle(() => reject(error)));

    child.on('exit', (exitCode, signal) => {
      settle(() => reject(options.describeFailure({ timedOut, exitCode, signal, stderr: stderr.trim() })));
    });

    child.send(request);
  });
}

function rebuildError(error: Extract<ChildReply, { ok: false }>['error']): Error {
  if (error.code !== undefined) {
    return new CentroidError(error.code, error.message, error.location ?? {});
  }
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  if (error.stack !== undefined) {
    rebuilt.stack = error.stack;
  }
  return rebuilt;
}

/**
 * Serves one request in the child: waits for it, runs the matching task and sends the
 * reply. The parent disconnects after the reply, which lets the child exit.
 */
export function serveChildTasks(tasks: Record<string, (...args: never[]) => unknown>): void {
  process.once('message', async (request: ChildRequest) => {
    const reply = await runTask(tasks, request);
    process.send?.(reply);
  });
}

async function runTask(tasks: Record<string, (...args: never[]) => unknown>, request: ChildRequest): Promise<ChildReply> {
  try {
    const task = tasks[request.task];
    if (task === undefined) {
      throw new Error(`unknown child task "${request.task}"`);
    }
    return { ok: true, result: await task(...(request.args as never[])) };
  } catch (error) {
    if (error instanceof CentroidError) {
      return { ok: false, error: { name: error.name, message: error.message, code: error.code, location: error.location } };
    }
    const { name, message, stack } = error instanceof Error ? error : new Error(String(error));
    return { ok: false, error: { name, message, ...(stack === undefined ? {} : { stack }) } };
  }
}
