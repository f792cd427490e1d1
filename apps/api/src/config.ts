// API settings from environment variables, checked at start so that a typo stops the server
// with a message that names the variable.
import path from 'node:path';
import { DEFAULT_REDIS_URL } from '@centroid/jobs';
import { DEFAULT_MAX_DATASET_BYTES, DEFAULT_MAX_MODEL_BYTES } from './app.js';

export interface ApiConfig {
  /** PORT. @defaultValue 8080 */
  port: number;
  /** HOST, the interface to listen on. @defaultValue 127.0.0.1 */
  host: string;
  /** REDIS_URL. @defaultValue redis://127.0.0.1:6379 */
  redisUrl: string;
  /** CENTROID_REDIS_PREFIX, the prefix of every Redis key. @defaultValue centroid */
  redisPrefix: string;
  /** CENTROID_DATA_DIR, the artifact store's root folder. @defaultValue `.data` under the working directory */
  dataDir: string;
  /** CENTROID_MAX_MODEL_BYTES. @defaultValue 2147483648 (2 GiB) */
  maxModelBytes: number;
  /** CENTROID_MAX_DATASET_BYTES. @defaultValue 4294967296 (4 GiB) */
  maxDatasetBytes: number;
  /** CENTROID_PUBLIC_URL, the base of URLs in job resources. @defaultValue the scheme and host of each request */
  publicUrl: string | undefined;
  /** CENTROID_WEBHOOK_ALLOW_PRIVATE=1 accepts webhook URLs on loopback and private IP addresses, as the worker does. @defaultValue false */
  allowPrivateWebhooks: boolean;
  /** LOG_LEVEL. @defaultValue info */
  logLevel: string;
}

export function readApiConfig(env: NodeJS.ProcessEnv): ApiConfig {
  return {
    port: readInteger(env, 'PORT', 8080, 0, 65535),
    host: env.HOST ?? '127.0.0.1',
    redisUrl: env.REDIS_URL ?? DEFAULT_REDIS_URL,
    redisPrefix: env.CENTROID_REDIS_PREFIX ?? 'centroid',
    dataDir: path.resolve(env.CENTROID_DATA_DIR ?? '.data'),
    maxModelBytes: readInteger(env, 'CENTROID_MAX_MODEL_BYTES', DEFAULT_MAX_MODEL_BYTES, 1, Number.MAX_SAFE_INTEGER),
    maxDatasetBytes: readInteger(env, 'CENTROID_MAX_DATASET_BYTES', DEFAULT_MAX_DATASET_BYTES, 1, Number.MAX_SAFE_INTEGER),
    publicUrl: readUrl(env, 'CENTROID_PUBLIC_URL'),
    allowPrivateWebhooks: env.CENTROID_WEBHOOK_ALLOW_PRIVATE === '1',
    logLevel: env.LOG_LEVEL ?? 'info',
  };
}

export function readInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;

  // Only plain decimal digits: Number() would also take '0x10', '1e3' and ' 8 '.
  const value = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`Invalid ${name}='${raw}': expected an integer from ${min} to ${max}.`);
  }
  return value;
}

function readUrl(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;

  try {
    const url = new URL(raw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http or https');
  } catch {
    throw new Error(`Invalid ${name}='${raw}': expected an absolute http(s) URL such as https://centroid.example.com.`);
  }
  return raw.replace(/\/+$/, '');
}
