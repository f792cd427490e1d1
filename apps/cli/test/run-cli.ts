// Runs the CLI in a child process, as the tests of its commands need it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** The repository root, the folder `pnpm centroid` runs the CLI from. */
export const REPOSITORY_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `centroid ARGS` on the pure-JavaScript backend and returns its exit code and output. */
export function centroid(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      { cwd: options.cwd, env: { ...process.env, CENTROID_BACKEND: 'cpu', ...options.env }, timeout: 120_000 },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), stdout, stderr }),
    );
  });
}

/** Starts `centroid ARGS` on the pure-JavaScript backend with piped output, for tests that signal it. */
export function startCentroid(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    env: { ...process.env, CENTROID_BACKEND: 'cpu', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Returns whether `text` contains lines of a JavaScript stack trace. */
export const hasStackTrace = (text: string): boolean => /^\s+at /m.test(text);
