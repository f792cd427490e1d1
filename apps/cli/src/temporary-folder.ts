// A temporary folder for one CLI run that is removed however the run ends.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * Source of the watcher process. It checks every WATCH_INTERVAL_MS whether the CLI process
 * still runs, and removes the folder once it does not. It also stops when the folder is
 * gone, which is how a run that ends normally releases it.
 */
const WATCHER_SOURCE = `
const { existsSync, rmSync } = require('node:fs');
const [pid, folder, interval] = process.argv.slice(1);
setInterval(() => {
  if (!existsSync(folder)) process.exit(0);
  try {
    process.kill(Number(pid), 0);
  } catch (error) {
    if (error.code === 'EPERM') return;
    rmSync(folder, { recursive: true, force: true });
    process.exit(0);
  }
}, Number(interval));
`;

const WATCH_INTERVAL_MS = 500;

/** A temporary folder and the function that removes it. */
export interface TemporaryFolder {
  path: string;
  remove(): Promise<void>;
}

/**
 * Creates a folder under the system's temporary directory and starts a detached watcher
 * process that removes it after this process exits. Ctrl-C thus keeps its default effect
 * of stopping the CLI at once. A signal handler could not do the cleanup: it runs only when
 * the main thread is free, which can take minutes during exact k-means on a large tensor.
 */
export async function createTemporaryFolder(prefix: string): Promise<TemporaryFolder> {
  const folder = await mkdtemp(path.join(os.tmpdir(), prefix));
  const watcher = spawn(process.execPath, ['-e', WATCHER_SOURCE, String(process.pid), folder, String(WATCH_INTERVAL_MS)], {
    detached: true,
    stdio: 'ignore',
  });
  // A watcher that cannot start only costs the cleanup after an interrupted run.
  watcher.on('error', () => {});
  watcher.unref();
  return { path: folder, remove: () => rm(folder, { recursive: true, force: true }) };
}
