// Starts the API and a worker as child processes for the demo and stops them afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

export interface RunningServices {
  apiUrl: string;
  logDir: string;
  stop(): Promise<void>;
}

/** Returns a TCP port that was free on 127.0.0.1 a moment ago. */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function startNode(entry: string, env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repositoryRoot, entry)], {
    cwd: repositoryRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

async function waitForReady(url: string, child: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the API exited with code ${child.exitCode} while starting; see ${logFile}`);
    try {
      const response = await fetch(`${url}/readyz`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await sleep(200);
  }
  throw new Error(`the API did not become ready at ${url}/readyz within ${timeoutMs / 1000} s; see ${logFile}`);
}

async function stopChild(child: ChildProcess, deadlineMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = sleep(deadlineMs).then(() => 'timeout' as const);
  if ((await Promise.race([exited, timer])) === 'timeout') child.kill('SIGKILL');
}

/** Starts the API on a free port and one worker, sharing Redis key prefix and data folder. */
export async function startServices(options: {
  redisUrl: string;
  prefix: string;
  dataDir: string;
  webhookSecret: string;
  extraEnv?: NodeJS.ProcessEnv;
}): Promise<RunningServices> {
  const port = await findFreePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const logDir = path.join(options.dataDir, 'logs');
  await mkdir(logDir, { recursive: true });

  const env: NodeJS.ProcessEnv = {
    REDIS_URL: options.redisUrl,
    CENTROID_REDIS_PREFIX: options.prefix,
    CENTROID_DATA_DIR: options.dataDir,
    CENTROID_PUBLIC_URL: apiUrl,
    CENTROID_WEBHOOK_SECRET: options.webhookSecret,
    CENTROID_WEBHOOK_ALLOW_PRIVATE: '1',
    ...options.extraEnv,
  };
  const apiLog = path.join(logDir, 'api.log');
  const workerLog = path.join(logDir, 'worker.log');
  const api = startNode('apps/api/src/main.ts', { ...env, PORT: String(port), HOST: '127.0.0.1' }, apiLog);
  const worker = startNode('apps/worker/src/main.ts', env, workerLog);

  const stop = async () => {
    await Promise.all([stopChild(api, 10_000), stopChild(worker, 15_000)]);
  };
  try {
    await waitForReady(apiUrl, api, apiLog, 60_000);
  } catch (error) {
    await stop();
    throw error;
  }
  if (worker.exitCode !== null) {
    await stop();
    throw new Error(`the worker exited with code ${worker.exitCode} while starting; see ${workerLog}`);
  }
  return { apiUrl, logDir, stop };
}
