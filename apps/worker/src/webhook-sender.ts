// Delivers the completion webhook of finished jobs through the `webhook` queue. Each attempt
// is one run of a queue job, and BullMQ schedules the retries in Redis. A delivery waiting for
// its next attempt therefore survives a worker restart, and any worker can make that attempt.
// Every attempt is recorded on the job.
import type { Job, WebhookDeliveryData, WebhookPayload } from '@centroid/contracts';
import { WebhookDeliveryDataSchema } from '@centroid/contracts';
import { WebhookQueue, withAbsoluteUrls, type JobStore, type RedisConnection, type ServiceCounters } from '@centroid/jobs';
import { attemptWebhook, retryDelay, type BackoffOptions } from '@centroid/webhooks';
import { Worker, type Job as QueueJob } from 'bullmq';
import type { Logger } from 'pino';

export interface WebhookDeliverySettings {
  /** Time allowed for each attempt, in milliseconds. @defaultValue 15000 */
  timeoutMs?: number;
  /** Attempts per event, the first included. @defaultValue 12 */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  /** Bytes of each response body read before the connection is closed. @defaultValue 65536 */
  maxResponseBytes?: number;
}

export interface WebhookSenderOptions {
  store: JobStore;
  /** Connection for the queue and its worker, which the sender does not close. */
  connection: RedisConnection;
  /** BullMQ key prefix. @defaultValue `centroid` */
  prefix?: string;
  /** BullMQ queue name. @defaultValue `webhook` */
  queueName?: string;
  /** Signing secret `whsec_<base64>`. Without one, no webhook is sent and the job records why. */
  secret: string | undefined;
  /** Allows receivers on loopback and private addresses. @defaultValue false */
  allowPrivateAddresses?: boolean;
  /** Base of absolute URLs in the payload. @defaultValue none, so URLs stay paths */
  publicUrl?: string;
  /** Overrides of the delivery settings, such as a short backoff in tests. */
  delivery?: WebhookDeliverySettings;
  /** Counts ended deliveries for the API's /metrics. */
  counters: Pick<ServiceCounters, 'recordWebhookOutcome'>;
  /** Deliveries attempted at once by this worker. @defaultValue 8 */
  concurrency?: number;
  log: Logger;
}

/** Raised by a failed attempt that may succeed later, so that BullMQ schedules the next one. */
class RetryableAttemptError extends Error {
  constructor(
    message: string,
    readonly attemptNumber: number,
    readonly retryAfter: string | undefined,
  ) {
    super(message);
    this.name = 'RetryableAttemptError';
  }
}

export class WebhookSender {
  private readonly queue: WebhookQueue;
  private worker: Worker<WebhookDeliveryData> | null = null;
  private readonly controller = new AbortController();

  constructor(private readonly options: WebhookSenderOptions) {
    this.queue = new WebhookQueue({
      connection: options.connection,
      ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      ...(options.queueName === undefined ? {} : { name: options.queueName }),
      ...(options.delivery?.maxAttempts === undefined ? {} : { maxAttempts: options.delivery.maxAttempts }),
    });
  }

  /** Starts taking deliveries from the queue, including those that an earlier worker left waiting. */
  async start(): Promise<void> {
    const { connection, delivery, log } = this.options;
    const worker = new Worker<WebhookDeliveryData>(this.queue.name, (job) => this.attempt(job), {
      connection,
      prefix: this.queue.prefix,
      concurrency: this.options.concurrency ?? 8,
      settings: {
        backoffStrategy: (attemptsMade, _type, error) => {
          const retryAfter = error instanceof RetryableAttemptError ? error.retryAfter : undefined;
          return retryDelay(attemptsMade, retryAfter, delivery?.backoff);
        },
      },
    });
    worker.on('failed', (job, error) => {
      if (!(error instanceof RetryableAttemptError)) log.error({ err: error, jobId: job?.data.jobId }, 'webhook delivery failed unexpectedly');
    });
    worker.on('error', (error) => log.error({ err: error }, 'webhook worker error'));
    await worker.waitUntilReady();
    this.worker = worker;
  }

  /** Queues the webhook of a finished job. Does nothing for a job without one. */
  async send(job: Job): Promise<void> {
    const { store, secret, log } = this.options;
    const webhook = job.webhook;
    if (webhook === null || !job.done) return;

    if (secret === undefined) {
      const error = 'The worker has no CENTROID_WEBHOOK_SECRET, so the webhook was not sent.';
      log.warn({ jobId: job.id }, error);
      await store.setWebhook(job.id, { ...webhook, attempts: [{ at: new Date().toISOString(), status: null, error }] });
      return;
    }

    const payload: WebhookPayload = {
      type: `job.${job.status as 'succeeded' | 'failed' | 'canceled'}`,
      timestamp: new Date().toISOString(),
      data: this.options.publicUrl === undefined ? job : withAbsoluteUrls(job, this.options.publicUrl),
    };
    // The same id on every attempt and after a worker restart lets receivers drop duplicates.
    await this.queue.add({ jobId: job.id, url: webhook.url, webhookId: `msg_${job.id}`, body: JSON.stringify(payload) });
  }

  /**
   * Stops taking deliveries. An attempt in progress gets up to `deadlineMs` and is then
   * aborted and retried later by any worker. Deliveries waiting for a retry stay in Redis.
   */
  async close(deadlineMs: number): Promise<void> {
    const worker = this.worker;
    if (worker !== null) {
      const closed = worker.close();
      const timedOut = await Promise.race([closed.then(() => false), delay(deadlineMs).then(() => true)]);
      if (timedOut) {
        this.options.log.warn('stopping a webhook attempt still in progress at shutdown; it is retried later');
        this.controller.abort();
        await closed;
      }
    }
    await this.queue.close();
  }

  private async attempt(queueJob: QueueJob<WebhookDeliveryData>): Promise<void> {
    const { store, secret, log, delivery } = this.options;
    const data = WebhookDeliveryDataSchema.parse(queueJob.data);
    const attemptNumber = queueJob.attemptsMade + 1;
    const maxAttempts = queueJob.opts.attempts ?? 1;
    if (secret === undefined) throw new Error(`The worker has no CENTROID_WEBHOOK_SECRET, so webhook ${data.webhookId} cannot be signed.`);

    const result = await attemptWebhook(new URL(data.url), data.body, data.webhookId, {
      secret,
      allowPrivateAddresses: this.options.allowPrivateAddresses ?? false,
      signal: this.controller.signal,
      ...(delivery?.timeoutMs === undefined ? {} : { timeoutMs: delivery.timeoutMs }),
      ...(delivery?.maxResponseBytes === undefined ? {} : { maxResponseBytes: delivery.maxResponseBytes }),
    });

    // The delivery ends here with an outcome, on the last attempt, or not at all when a retry follows.
    const aborted = result.outcome === 'aborted';
    const ending = aborted ? null : (result.outcome ?? (attemptNumber >= maxAttempts ? 'attempts_exhausted' : null));
    // Counted before the job record shows the attempt, so a client that reads the attempt also finds it counted.
    if (ending !== null) await this.options.counters.recordWebhookOutcome(ending);

    const current = await store.get(data.jobId);
    const attempts = [...(current?.webhook?.attempts ?? []), result.attempt];
    await store.setWebhook(data.jobId, { url: data.url, delivered: result.outcome === 'delivered', attempts });
    log.info({ jobId: data.jobId, status: result.attempt.status, error: result.attempt.error, attempt: attemptNumber }, 'webhook attempt');

    if (ending !== null) {
      const level = ending === 'delivered' ? 'info' : 'warn';
      log[level]({ jobId: data.jobId, outcome: ending, attempts: attemptNumber }, 'webhook delivery ended');
      return;
    }
    if (aborted) {
      // Shutdown cut the attempt short, so a later worker makes it again.
      throw new RetryableAttemptError(`webhook ${data.webhookId}: attempt aborted by shutdown`, attemptNumber, undefined);
    }
    throw new RetryableAttemptError(`webhook ${data.webhookId}: ${result.attempt.error ?? 'attempt failed'}`, attemptNumber, result.retryAfter);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
