// Sends HDF5 work to a child process with a deadline, so that a crafted or damaged
// upload that makes the HDF5 library loop or exhaust memory fails the task instead of
// stalling or crashing the caller.
import { stat } from 'node:fs/promises';

import { CentroidError } from '@centroid/contracts';

import { runInChild } from '../isolation/run-in-child.js';

export interface IsolationOptions {
  /**
   * Time in milliseconds after which the child process is killed and the call fails.
   * Defaults to 60 s plus 1 s per 10 MB of model file.
   */
  timeoutMs?: number;
}

/** Base of the default deadline; process start and h5wasm loading take about 0.5 s of it. */
const BASE_TIMEOUT_MS = 60_000;

/**
 * Allowance per byte of model file. Reading a 117 MB file took 0.7 s in one process on a
 * 2-core development VM, so this leaves a wide margin for slower disks and busy hosts.
 */
const TIMEOUT_MS_PER_BYTE = 1_000 / 10_000_000;

/** The file extension of this package's modules: `.ts` when run from source with a loader, `.js` when compiled. */
const MODULE_EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const CHILD_ENTRY = new URL(`./child-entry${MODULE_EXTENSION}`, import.meta.url);

/** Returns the default deadline for work on the file at `path`. */
export async function defaultTimeoutMs(path: string): Promise<number> {
  const { size } = await stat(path);
  return BASE_TIMEOUT_MS + Math.ceil(size * TIMEOUT_MS_PER_BYTE);
}

/** Description of the child's work, for the failure message. */
export interface IsolatedTaskContext {
  /** Name of the model file that the message names. */
  filename: string;
  /** The work as a gerund phrase, such as "reading the HDF5 file". */
  activity: string;
  /**
   * Code raised when the child times out or dies. Reading an upload uses MODEL_INVALID,
   * because a damaged file is the likely cause; writing uses INTERNAL.
   */
  failureCode: 'MODEL_INVALID' | 'INTERNAL';
}

/** Runs a task of `child-entry.ts` in a child process and returns its result. */
export function runIsolatedH5Task<T>(task: string, args: unknown[], timeoutMs: number, context: IsolatedTaskContext): Promise<T> {
  return runInChild<T>(CHILD_ENTRY, { task, args }, {
    timeoutMs,
    describeFailure: ({ timedOut, exitCode, signal, stderr }) => {
      const outcome = timedOut
        ? `did not finish within ${Math.round(timeoutMs / 1000)} s and was stopped`
        : `ended the HDF5 process unexpectedly (exit code ${exitCode}, signal ${signal})`;
      const hint = context.failureCode === 'MODEL_INVALID' ? ' The file may be damaged or crafted.' : '';
      const detail = stderr === '' ? '' : ` Process output: ${stderr}`;
      return new CentroidError(context.failureCode, `${context.filename}: ${context.activity} ${outcome}.${hint}${detail}`, {
        file: context.filename,
      });
    },
  });
}
