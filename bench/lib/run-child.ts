// Runs a benchmark step in a child process with a deadline and collects what it printed.
// The benchmarks print their result as JSON on the last line of standard output.
import { spawn } from 'node:child_process';

export interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the deadline passed and the child was killed. */
  timedOut: boolean;
  /** Last non-empty line of standard output, or '' when there was none. */
  lastLine: string;
  stderr: string;
}

/** Runs `command` with `args`, killing it with SIGKILL after `timeoutMs`. */
export async function runChild(
  command: string,
  args: string[],
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<ChildOutcome> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.on('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
  });
  clearTimeout(timer);

  return { code, signal, timedOut, lastLine: stdout.trim().split('\n').at(-1) ?? '', stderr };
}
