// Publishes this worker's record (id, host, backend) to the worker registry at start and
// then on a fixed interval, so that GET /readyz can list the live workers. The record
// lives for three intervals, so one missed heartbeat does not drop a live worker, and a
// worker that dies drops out within three intervals.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Backend, WorkerRecord } from '@centroid/contracts';
import type { WorkerRegistry } from '@centroid/jobs';
import type { Logger } from 'pino';

export interface WorkerHeartbeatOptions {
  registry: WorkerRegistry;
  /** Backend that this worker's pipelines run on, or null when it is not known. */
  backend: Backend | null;
  concurrency: number;
  /** Time between heartbeats, in milliseconds. */
  intervalMs: number;
  log: Logger;
}

/** Heartbeats a record may miss before it expires. */
const MISSED_HEARTBEATS_ALLOWED = 2;

export class WorkerHeartbeat {
  readonly id: string;
  private readonly startedAt = new Date().toISOString();
  private timer: NodeJS.Timeout | null = null;
  private pending: Promise<void> | null = null;
  private failing = false;

  constructor(private readonly options: WorkerHeartbeatOptions) {
    if (!Number.isInteger(options.intervalMs) || options.intervalMs < 1) {
      throw new RangeError(`the heartbeat interval must be a positive integer of milliseconds, got ${options.intervalMs}`);
    }
    // The id ends a Redis key whose parts colons separate, so it must not contain one.
    const host = os.hostname().replace(/[^A-Za-z0-9_.-]/g, '_');
    this.id = `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
  }

  /** Publishes the first heartbeat and schedules the next ones. Raises when the first one fails. */
  async start(): Promise<void> {
    await this.options.registry.publish(this.record(), this.ttlMs());
    this.options.log.info({ workerId: this.id, backend: this.options.backend, intervalMs: this.options.intervalMs }, 'worker heartbeat started');
    this.timer = setInterval(() => {
      // The worker's connection waits out a Redis outage, so a heartbeat can still be in
      // flight when the next is due. Skipping it keeps commands from piling up.
      if (this.pending !== null) return;
      this.pending = this.beat().finally(() => {
        this.pending = null;
      });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops the heartbeats and deletes the record, so the worker leaves the list at once. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.pending;
    try {
      await this.options.registry.remove(this.id);
    } catch (error) {
      this.options.log.warn({ err: error, workerId: this.id }, 'worker record could not be removed, so it stays listed until it expires');
    }
  }

  private async beat(): Promise<void> {
    try {
      await this.options.registry.publish(this.record(), this.ttlMs());
      if (this.failing) this.options.log.info({ workerId: this.id }, 'worker heartbeat recovered');
      this.failing = false;
    } catch (error) {
      // One line per run of failures: Redis being down is already logged by the connection.
      if (!this.failing) this.options.log.warn({ err: error, workerId: this.id }, 'worker heartbeat failed, so /readyz may not list this worker');
      this.failing = true;
    }
  }

  private record(): WorkerRecord {
    return {
      id: this.id,
      hostname: os.hostname(),
      pid: process.pid,
      backend: this.options.backend,
      concurrency: this.options.concurrency,
      started_at: this.startedAt,
      heartbeat_at: new Date().toISOString(),
    };
  }

  private ttlMs(): number {
    return this.options.intervalMs * (MISSED_HEARTBEATS_ALLOWED + 1);
  }
}
