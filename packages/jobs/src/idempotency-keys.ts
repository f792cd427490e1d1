// Idempotency keys of `POST /v1/jobs`. A client that retries a submission with the same
// `Idempotency-Key` gets the job of its first request instead of a second job. Keys live in
// Redis for a day, under a hash of the key so that any header value makes a safe Redis key.
import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { withRedis } from './redis-connection.js';

/** Time a key is remembered when none is configured: 24 hours. */
export const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

/** The state of a key: a request is still being handled, or it created a job. */
export type IdempotencyRecord =
  | { state: 'in_flight'; token: string }
  | { state: 'completed'; fingerprint: string; jobId: string };

/** The result of claiming a key. */
export type IdempotencyClaim =
  /** The key is new. The caller handles the request, then calls complete() or release() with the token. */
  | { kind: 'claimed'; token: string }
  /** Another request with this key is being handled now. */
  | { kind: 'in_flight' }
  /** A request with this key created a job. */
  | { kind: 'completed'; fingerprint: string; jobId: string };

export interface IdempotencyKeysOptions {
  connection: Redis;
  /** @defaultValue `centroid` */
  prefix?: string;
  /** @defaultValue 86400 */
  ttlSeconds?: number;
}

// Deletes the key only if it still contains the caller's in-flight token.
const RELEASE_SCRIPT = `
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw).token == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export class IdempotencyKeys {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly ttlSeconds: number;

  constructor(options: IdempotencyKeysOptions) {
    this.redis = options.connection;
    this.prefix = options.prefix ?? 'centroid';
    this.ttlSeconds = options.ttlSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS;
  }

  /** Claims `key` for a new request, or reports what an earlier request with it did. */
  async claim(key: string): Promise<IdempotencyClaim> {
    const token = randomUUID();
    const record: IdempotencyRecord = { state: 'in_flight', token };
    const set = await withRedis('claim an idempotency key', () =>
      this.redis.set(this.redisKey(key), JSON.stringify(record), 'EX', this.ttlSeconds, 'NX'),
    );
    if (set === 'OK') return { kind: 'claimed', token };

    const raw = await withRedis('read an idempotency key', () => this.redis.get(this.redisKey(key)));
    // The key expired or was released between the two commands, so try once more.
    if (raw === null) return this.claim(key);
    const existing = JSON.parse(raw) as IdempotencyRecord;
    if (existing.state === 'in_flight') return { kind: 'in_flight' };
    return { kind: 'completed', fingerprint: existing.fingerprint, jobId: existing.jobId };
  }

  /** Records that the request holding `token` created job `jobId` from a request with `fingerprint`. */
  async complete(key: string, fingerprint: string, jobId: string): Promise<void> {
    const record: IdempotencyRecord = { state: 'completed', fingerprint, jobId };
    await withRedis('complete an idempotency key', () =>
      this.redis.set(this.redisKey(key), JSON.stringify(record), 'EX', this.ttlSeconds),
    );
  }

  /** Forgets a key whose request created no job, so that a retry is handled afresh. */
  async release(key: string, token: string): Promise<void> {
    await withRedis('release an idempotency key', () => this.redis.eval(RELEASE_SCRIPT, 1, this.redisKey(key), token));
  }

  private redisKey(key: string): string {
    return `${this.prefix}:idempotency:${createHash('sha256').update(key).digest('hex')}`;
  }
}
