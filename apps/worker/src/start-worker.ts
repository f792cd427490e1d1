// Builds and starts a worker: a BullMQ Worker on the cluster queue whose processor runs each
// job's pipeline in a child process, plus the cancellation watcher and the webhook sender.
import { ClusterJobDataSchema, type Backend, type ClusterJobData } from '@centroid/contracts';
import {
  ArtifactStore,
  CLUSTER_QUEUE_NAME,
  CancelSignal,
  JobStore,
  ServiceCounters,
  WorkerRegistry,
  createWorkerConnection,
  DEFAULT_REDIS_URL,
  DEFAULT_RETENTION_MS,
  type RedisConnection,
} from '@centroid/jobs';
import { Worker } from 'bullmq';
import { pino, type Logger } from 'pino';
import { CancelWatcher } from './cancel-watcher.js';
import { ClusterJobProcessor } from './cluster-job-processor.js';
import { WebhookSender, type WebhookSenderOptions } from './webhook-sender.js';
import { RetentionTimer } from './retention-timer.js';
import { WorkerHeartbeat } from './worker-heartbeat.js';

export interface WorkerOptions {
  /** @defaultValue redis://127.0.0.1:6379 */
  redisUrl?: string;
  /** Prefix of the job records and of the BullMQ keys. @defaultValue `centroid` */
  prefix?: string;
  /** @defaultValue `cluster` */
  queueName?: string;
  /** Queue of webhook deliveries. @defaultValue `webhook` */
  webhookQueueName?: string;
  /** Root folder of the artifact store. @defaultValue `.data` under the working directory */
  dataDir?: string;
  /** Jobs run at once, one pipeline child each. @defaultValue 1 */
  concurrency?: number;
  /** Module that exports runPipeline. @defaultValue `@centroid/pipeline` */
  pipelineModule?: string;
  /** Webhook signing secret `whsec_<base64>`. Without one, jobs record that no webhook was sent. */
  webhookSecret?: string;
  /** Allows webhook receivers on loopback and private addresses, for tests and demos. @defaultValue false */
  allowPrivateWebhooks?: boolean;
  /** Base of absolute URLs in webhook payloads. @defaultValue none, so URLs stay paths */
  publicUrl?: string;
  /** Minimum time between progress writes within one stage, in milliseconds. @defaultValue 250 */
  progressIntervalMs?: number;
  /** Interval of the cancellation flag poll, in milliseconds. @defaultValue 1000 */
  cancelPollIntervalMs?: number;
  webhookDelivery?: WebhookSenderOptions['delivery'];
  /**
   * TensorFlow.js backend that the pipelines run on, as `selectBackend` returned it. The
   * worker publishes it for GET /readyz and records it on each job it starts. @defaultValue null, not known
   */
  backend?: Backend | null;
  /**
   * Time a finished job and its artifacts are kept, in milliseconds; 0 keeps them forever.
   * Every worker sweeps once at start and then hourly. @defaultValue 7 days
   */
  retentionMs?: number;
  /** Time between the heartbeats that keep this worker listed on GET /readyz, in milliseconds. @defaultValue 10000 */
  heartbeatIntervalMs?: number;
  /** @defaultValue a pino logger at info level */
  logger?: Logger;
}

export interface RunningWorker {
  /**
   * Stops taking jobs and waits up to `deadlineMs` for the running ones. Past the deadline their
   * pipelines are killed and the jobs marked failed (WORKER_CRASHED). Webhook deliveries get
   * the same deadline again.
   */
  close(deadlineMs?: number): Promise<void>;
}

export const DEFAULT_SHUTDOWN_DEADLINE_MS = 25_000;
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;

export async function startWorker(options: WorkerOptions = {}): Promise<RunningWorker> {
  const log = options.logger ?? pino({ level: 'info' });
  const prefix = options.prefix ?? 'centroid';
  const queueName = options.queueName ?? CLUSTER_QUEUE_NAME;

  const connection = createWorkerConnection(options.redisUrl ?? DEFAULT_REDIS_URL);
  const subscriber = connection.duplicate();
  logConnectionErrors(connection, log);
  logConnectionErrors(subscriber, log);
  const store = new JobStore({ connection, prefix });
  const cancelSignal = new CancelSignal({ connection, prefix });
  const cancelWatcher = new CancelWatcher(cancelSignal, subscriber, options.cancelPollIntervalMs ?? 1000, log);
  const heartbeat = new WorkerHeartbeat({
    registry: new WorkerRegistry({ connection, prefix }),
    backend: options.backend ?? null,
    concurrency: options.concurrency ?? 1,
    intervalMs: options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
    log,
  });
  const counters = new ServiceCounters({ connection, prefix });
  const webhooks = new WebhookSender({
    store,
    counters,
    connection,
    prefix,
    ...(options.webhookQueueName === undefined ? {} : { queueName: options.webhookQueueName }),
    secret: options.webhookSecret,
    allowPrivateAddresses: options.allowPrivateWebhooks ?? false,
    ...(options.publicUrl === undefined ? {} : { publicUrl: options.publicUrl }),
    ...(options.webhookDelivery === undefined ? {} : { delivery: options.webhookDelivery }),
    log,
  });
  const artifacts = new ArtifactStore(options.dataDir === undefined ? {} : { root: options.dataDir });
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const retention = retentionMs === 0 ? null : new RetentionTimer({ store, artifacts, retentionMs, log });
  const processor = new ClusterJobProcessor({
    store,
    artifacts,
    cancelSignal,
    cancelWatcher,
    webhooks,
    counters,
    worker: { id: heartbeat.id, backend: options.backend ?? null },
    ...(options.pipelineModule === undefined ? {} : { pipelineModule: options.pipelineModule }),
    ...(options.progressIntervalMs === undefined ? {} : { progressIntervalMs: options.progressIntervalMs }),
    log,
  });

  await cancelWatcher.start();
  await webhooks.start();

  const worker = new Worker<ClusterJobData>(queueName, (job) => processor.process(ClusterJobDataSchema.parse(job.data)), {
    connection,
    prefix,
    concurrency: options.concurrency ?? 1,
  });
  worker.on('failed', (job, error) => log.error({ err: error, jobId: job?.id }, 'queue job failed outside the pipeline'));
  worker.on('error', (error) => log.error({ err: error }, 'worker error'));
  await worker.waitUntilReady();
  await heartbeat.start();
  retention?.start();
  log.info({ queue: queueName, prefix, concurrency: options.concurrency ?? 1, pipelineModule: options.pipelineModule ?? '@centroid/pipeline' }, 'worker started');

  let closing: Promise<void> | null = null;
  const close = async (deadlineMs: number): Promise<void> => {
    log.info({ deadlineMs }, 'worker stopping');
    const closed = worker.close();
    const timedOut = await Promise.race([closed.then(() => false), delay(deadlineMs).then(() => true)]);

    if (timedOut) {
      log.warn('running jobs did not finish before the shutdown deadline, so their pipelines are killed');
      processor.abortAll();
      await closed;
    }

    await webhooks.close(deadlineMs);
    await heartbeat.stop();
    await retention?.stop();
    await cancelWatcher.close();
    await subscriber.quit();
    await connection.quit();
    log.info('worker stopped');
  };

  return {
    close: (deadlineMs = DEFAULT_SHUTDOWN_DEADLINE_MS) => {
      closing ??= close(deadlineMs);
      return closing;
    },
  };
}

const CONNECTION_ERROR_LOG_INTERVAL_MS = 30_000;

// ioredis emits an error on every reconnection attempt, so one line per interval is enough.
// Commands wait for the connection to come back, so no job is lost meanwhile.
function logConnectionErrors(connection: RedisConnection, log: Logger): void {
  let lastLoggedAt = 0;
  connection.on('error', (error: Error) => {
    if (Date.now() - lastLoggedAt < CONNECTION_ERROR_LOG_INTERVAL_MS) return;
    lastLoggedAt = Date.now();
    log.warn({ err: error }, 'Redis connection failed, so the worker waits for it to come back');
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
