// Sends the completion webhook of finished jobs in the background, so the worker can take the
// next job while a slow receiver is retried, and records every attempt on the job.
import type { Job, WebhookPayload } from '@centroid/contracts';
import { withAbsoluteUrls, type JobStore } from '@centroid/jobs';
import { deliverWebhook, type DeliverWebhookOptions } from '@centroid/webhooks';
import type { Logger } from 'pino';

export interface WebhookSenderOptions {
  store: JobStore;
  /** Signing secret `whsec_<base64>`. Without one, no webhook is sent and the job records why. */
  secret: string | undefined;
  /** Allows receivers on loopback and private addresses. @defaultValue false */
  allowPrivateAddresses?: boolean;
  /** Base of absolute URLs in the payload. @defaultValue none, so URLs stay paths */
  publicUrl?: string;
  /** Overrides of the delivery settings, such as a short backoff in tests. */
  delivery?: Pick<DeliverWebhookOptions, 'timeoutMs' | 'maxAttempts' | 'backoff' | 'maxResponseBytes'>;
  log: Logger;
}

export class WebhookSender {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly controller = new AbortController();

  constructor(private readonly options: WebhookSenderOptions) {}

  /** Starts delivery of the job's webhook. Does nothing for a job without one. */
  send(job: Job): void {
    if (job.webhook === null || !job.done) return;

    const delivery = this.deliver(job).catch((error: unknown) => {
      this.options.log.error({ err: error, jobId: job.id }, 'webhook delivery failed unexpectedly');
    });
    this.inFlight.add(delivery);
    void delivery.finally(() => this.inFlight.delete(delivery));
  }

  /**
   * Waits up to `deadlineMs` for deliveries in progress, then stops the rest.
   * NOTE: a delivery stopped here is not resumed by another worker, so its receiver never
   * gets the event. The job's webhook attempts show where it stopped.
   */
  async close(deadlineMs: number): Promise<void> {
    const pending = Promise.all([...this.inFlight]);
    const timedOut = await Promise.race([pending.then(() => false), delay(deadlineMs).then(() => true)]);
    if (!timedOut) return;

    this.options.log.warn({ deliveries: this.inFlight.size }, 'stopping webhook deliveries still in progress at shutdown');
    this.controller.abort();
    await pending;
  }

  private async deliver(job: Job): Promise<void> {
    const { store, secret, log } = this.options;
    const webhook = job.webhook;
    if (webhook === null) return;

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

    const result = await deliverWebhook(webhook.url, payload, {
      ...this.options.delivery,
      secret,
      // The same id on every attempt and after a worker restart lets receivers drop duplicates.
      webhookId: `msg_${job.id}`,
      allowPrivateAddresses: this.options.allowPrivateAddresses ?? false,
      signal: this.controller.signal,
      onAttempt: async (attempt, attempts) => {
        log.info({ jobId: job.id, status: attempt.status, error: attempt.error, attempt: attempts.length }, 'webhook attempt');
        await store.setWebhook(job.id, { url: webhook.url, delivered: attempt.status !== null && attempt.status < 300 && attempt.status >= 200, attempts });
      },
    });

    log.info({ jobId: job.id, outcome: result.outcome, attempts: result.attempts.length }, 'webhook delivery ended');
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
