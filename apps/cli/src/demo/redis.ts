// Finds a Redis for the demo: uses the one at REDIS_URL when it responds, otherwise starts a local
// redis-server without persistence, otherwise prints exactly how to get one.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export class RedisUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUnavailableError';
  }
}

/** Sends PING over a raw connection and returns true when Redis replies PONG within the timeout. */
export function pingRedis(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => finish(data.toString().startsWith('+PONG')));
  });
}

function isLocal(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1';
}

/** Ensures that a Redis responds at `url` and returns a line describing what was done. */
export async function ensureRedis(url: string): Promise<string> {
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const port = Number(parsed.port || 6379);
  if (await pingRedis(host, port)) return `Redis responds at ${host}:${port}`;

  const howToFix =
    'Install Redis (Debian or Ubuntu: apt-get install redis-server; macOS: brew install redis) and run pnpm demo again, ' +
    'or set REDIS_URL to a Redis that is running.';
  if (!isLocal(host)) throw new RedisUnavailableError(`Redis at ${url} does not respond to PING. ${howToFix}`);

  const started = await startRedisServer(port);
  if (!started) throw new RedisUnavailableError(`No Redis responds at ${host}:${port} and redis-server could not be started. ${howToFix}`);

  for (let attempt = 0; attempt < 50; attempt++) {
    if (await pingRedis(host, port)) return `started redis-server on 127.0.0.1:${port} (no persistence)`;
    await sleep(100);
  }
  throw new RedisUnavailableError(`redis-server was started on port ${port} but did not respond to PING within 5 s. ${howToFix}`);
}

function startRedisServer(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'yes', '--maxmemory-policy', 'noeviction'],
      { stdio: 'ignore' },
    );
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
}
