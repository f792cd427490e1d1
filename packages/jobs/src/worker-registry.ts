// The live workers, as each publishes itself to Redis. A worker writes its record to
// `<prefix>:workers:<id>` with a time to live and rewrites it on every heartbeat, so the
// record of a worker that died expires on its own. The sorted set `<prefix>:workers`
// indexes the ids by expiry time, so listing needs no SCAN over the whole keyspace.
import { WorkerRecordSchema, type WorkerRecord } from '@centroid/contracts';
import type { RedisConnection } from './redis-connection.js';
import { withRedis } from './redis-connection.js';

export interface WorkerRegistryOptions {
  connection: RedisConnection;
  /** @defaultValue `centroid` */
  prefix?: string;
}

export class WorkerRegistry {
  readonly prefix: string;
  private readonly redis: RedisConnection;

  constructor(options: WorkerRegistryOptions) {
    this.redis = options.connection;
    this.prefix = options.prefix ?? 'centroid';
  }

  /** Writes the record, which expires after `ttlMs` unless published again. */
  async publish(record: WorkerRecord, ttlMs: number): Promise<void> {
    if (!Number.isInteger(ttlMs) || ttlMs < 1) throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`);
    const valid = WorkerRecordSchema.parse(record);
    const expiresAt = Date.now() + ttlMs;

    await withRedis('publish a worker heartbeat', () =>
      this.redis
        .multi()
        .set(this.workerKey(valid.id), JSON.stringify(valid), 'PX', ttlMs)
        .zadd(this.indexKey(), expiresAt, valid.id)
        .exec(),
    );
  }

  /** Deletes the record of a worker that stops. */
  async remove(id: string): Promise<void> {
    await withRedis('remove a worker record', () => this.redis.multi().del(this.workerKey(id)).zrem(this.indexKey(), id).exec());
  }

  /**
   * Returns the records of the workers whose last heartbeat has not expired, ordered by id.
   * Drops expired ids from the index on the way. A record that is not valid JSON of the
   * expected shape is skipped, because one bad writer must not break every reader.
   */
  async list(): Promise<WorkerRecord[]> {
    const now = Date.now();
    const ids = await withRedis('list workers', async () => {
      await this.redis.zremrangebyscore(this.indexKey(), '-inf', now);
      return this.redis.zrange(this.indexKey(), 0, -1);
    });
    if (ids.length === 0) return [];

    const raws = await withRedis('read worker records', () => this.redis.mget(...ids.map((id) => this.workerKey(id))));
    const records: WorkerRecord[] = [];
    for (const raw of raws) {
      if (raw === null) continue;
      const parsed = WorkerRecordSchema.safeParse(safeJson(raw));
      if (parsed.success) records.push(parsed.data);
    }
    return records.sort((a, b) => a.id.localeCompare(b.id));
  }

  private workerKey(id: string): string {
    return `${this.prefix}:workers:${id}`;
  }

  private indexKey(): string {
    return `${this.prefix}:workers`;
  }
}

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}
