// Worker settings from environment variables, checked at start so that a typo stops the
// worker with a message that names the variable.
import path from 'node:path';
import { checkKmeansSettings } from '@centroid/engine';
import { DEFAULT_REDIS_URL } from '@centroid/jobs';
import { isWebhookSecret } from '@centroid/webhooks';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_SHUTDOWN_DEADLINE_MS, type WorkerOptions } from './start-worker.js';

export interface WorkerConfig extends WorkerOptions {
  shutdownDeadlineMs: number;
  logLevel: string;
}

/**
 * Reads REDIS_URL, CENTROID_REDIS_PREFIX, CENTROID_DATA_DIR, CENTROID_WORKER_CONCURRENCY,
 * CENTROID_PIPELINE_MODULE, CENTROID_WEBHOOK_SECRET, CENTROID_WEBHOOK_ALLOW_PRIVATE,
 * CENTROID_PUBLIC_URL, CENTROID_SHUTDOWN_DEADLINE_MS, CENTROID_RETENTION_HOURS (0 keeps jobs forever),
 * CENTROID_HEARTBEAT_INTERVAL_MS and LOG_LEVEL, and checks CENTROID_KMEANS_THREADS and
 * CENTROID_KMEANS_MAX_BYTES, which the jobs' processes read.
 */
export function readWorkerConfig(env: NodeJS.ProcessEnv): WorkerConfig {
  checkKmeansSettings(env);
  const secret = env.CENTROID_WEBHOOK_SECRET;
  if (secret !== undefined && secret !== '' && !isWebhookSecret(secret)) {
    throw new Error('Invalid CENTROID_WEBHOOK_SECRET: expected whsec_ followed by base64, such as the output of `echo whsec_$(openssl rand -base64 32)`.');
  }

  return {
    redisUrl: env.REDIS_URL ?? DEFAULT_REDIS_URL,
    prefix: env.CENTROID_REDIS_PREFIX ?? 'centroid',
    dataDir: path.resolve(env.CENTROID_DATA_DIR ?? '.data'),
    concurrency: readInteger(env, 'CENTROID_WORKER_CONCURRENCY', 1, 1, 64),
    ...(env.CENTROID_PIPELINE_MODULE ? { pipelineModule: env.CENTROID_PIPELINE_MODULE } : {}),
    ...(secret ? { webhookSecret: secret } : {}),
    allowPrivateWebhooks: env.CENTROID_WEBHOOK_ALLOW_PRIVATE === '1',
    ...(env.CENTROID_PUBLIC_URL ? { publicUrl: env.CENTROID_PUBLIC_URL.replace(/\/+$/, '') } : {}),
    shutdownDeadlineMs: readInteger(env, 'CENTROID_SHUTDOWN_DEADLINE_MS', DEFAULT_SHUTDOWN_DEADLINE_MS, 0, 24 * 3600 * 1000),
    retentionMs: readInteger(env, 'CENTROID_RETENTION_HOURS', 168, 0, 24 * 365 * 10) * 3600 * 1000,
    heartbeatIntervalMs: readInteger(env, 'CENTROID_HEARTBEAT_INTERVAL_MS', DEFAULT_HEARTBEAT_INTERVAL_MS, 100, 3600 * 1000),
    logLevel: env.LOG_LEVEL ?? 'info',
  };
}

function readInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;

  // Only plain decimal digits: Number() would also take '0x10', '1e3' and ' 8 '.
  const value = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`Invalid ${name}='${raw}': expected an integer from ${min} to ${max}.`);
  }
  return value;
}
