// Delivery of one webhook event with retries: signed POSTs until a 2xx, a 410, a rejected
// address or the last attempt. Every attempt is reported so that it can be shown on the job.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Job, WebhookPayload } from '@centroid/contracts';
import { WebhookAddressRejectedError, resolveWebhookHost } from './address-guard.js';
import { postWebhook } from './post-webhook.js';
import { retryDelay, type BackoffOptions } from './retry-delay.js';
import { buildSignatureHeaders } from './signature.js';

export type WebhookAttempt = NonNullable<Job['webhook']>['attempts'][number];

export interface DeliverWebhookOptions {
  /** Signing secret in the form `whsec_<base64>`. */
  secret: string;
  /** Value of `webhook-id`, the same on every attempt so receivers can drop duplicates. @defaultValue `msg_` and a random UUID */
  webhookId?: string;
  /** Time allowed for each attempt, in milliseconds. @defaultValue 15000 */
  timeoutMs?: number;
  /** Attempts before giving up, the first included. @defaultValue 12, which spreads retries over 1.2 to 2.4 hours with the default backoff */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  /** Allows receivers on loopback, private and reserved addresses, as AddressGuardOptions describes. @defaultValue false */
  allowPrivateAddresses?: boolean;
  /** Bytes of each response body read before the connection is closed. @defaultValue 65536 */
  maxResponseBytes?: number;
  /** Called after each attempt with that attempt and every attempt so far. */
  onAttempt?: (attempt: WebhookAttempt, attempts: WebhookAttempt[]) => void | Promise<void>;
  /** Stops the delivery between attempts or during one. */
  signal?: AbortSignal;
  /** Source of jitter, replaceable in tests. @defaultValue Math.random */
  random?: () => number;
}

/** Reason that delivery ended. */
export type DeliveryOutcome = 'delivered' | 'gone' | 'address_rejected' | 'attempts_exhausted' | 'aborted';

export interface DeliveryResult {
  webhookId: string;
  delivered: boolean;
  outcome: DeliveryOutcome;
  attempts: WebhookAttempt[];
}

/** Sends `payload` to `url`, retrying with backoff, and returns how delivery ended. */
export async function deliverWebhook(url: string, payload: WebhookPayload, options: DeliverWebhookOptions): Promise<DeliveryResult> {
  const target = new URL(url);
  if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error(`Invalid webhook URL '${url}': expected http or https.`);

  const webhookId = options.webhookId ?? `msg_${randomUUID()}`;
  const maxAttempts = options.maxAttempts ?? 12;
  const body = JSON.stringify(payload);
  const attempts: WebhookAttempt[] = [];

  const finish = (outcome: DeliveryOutcome): DeliveryResult => ({ webhookId, delivered: outcome === 'delivered', outcome, attempts });

  for (let number = 1; number <= maxAttempts; number++) {
    if (options.signal?.aborted === true) return finish('aborted');

    const result = await attemptWebhook(target, body, webhookId, options);
    attempts.push(result.attempt);
    await options.onAttempt?.(result.attempt, [...attempts]);

    if (result.outcome !== null) return finish(result.outcome);
    if (number === maxAttempts) break;

    const delay = retryDelay(number, result.retryAfter, options.backoff, options.random);

    try {
      await sleep(delay, undefined, options.signal === undefined ? {} : { signal: options.signal });
    } catch {
      return finish('aborted');
    }
  }

  return finish('attempts_exhausted');
}

/** The result of one delivery attempt. */
export interface AttemptResult {
  attempt: WebhookAttempt;
  /** Outcome that ends delivery after this attempt, or null when a retry may succeed. */
  outcome: DeliveryOutcome | null;
  /** The receiver's Retry-After header, if it sent one. */
  retryAfter: string | undefined;
}

/** Options of a single attempt: those of deliverWebhook without the retry settings. */
export type AttemptOptions = Pick<DeliverWebhookOptions, 'secret' | 'timeoutMs' | 'allowPrivateAddresses' | 'maxResponseBytes' | 'signal'>;

/** Sends one signed POST of `body` to `target` and classifies the response. Never raises for a network failure. */
export async function attemptWebhook(target: URL, body: string, webhookId: string, options: AttemptOptions): Promise<AttemptResult> {
  const at = new Date();

  try {
    const address = await resolveWebhookHost(target.hostname, { allowPrivateAddresses: options.allowPrivateAddresses ?? false });
    const headers = {
      ...buildSignatureHeaders(options.secret, webhookId, at, body),
      'user-agent': 'Centroid-Webhooks/0.1',
    };
    const response = await postWebhook(target, address, body, headers, {
      timeoutMs: options.timeoutMs ?? 15_000,
      maxResponseBytes: options.maxResponseBytes ?? 65_536,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });

    const succeeded = response.status >= 200 && response.status < 300;
    const attempt = { at: at.toISOString(), status: response.status, error: succeeded ? null : `Receiver returned HTTP ${response.status}.` };
    let outcome: DeliveryOutcome | null = null;
    if (succeeded) outcome = 'delivered';
    if (response.status === 410) outcome = 'gone';
    return { attempt, outcome, retryAfter: response.retryAfter };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const attempt = { at: at.toISOString(), status: null, error: message };

    // A rejected address is a configuration error that retrying cannot fix.
    if (error instanceof WebhookAddressRejectedError) return { attempt, outcome: 'address_rejected', retryAfter: undefined };
    if (options.signal?.aborted === true) return { attempt, outcome: 'aborted', retryAfter: undefined };
    return { attempt, outcome: null, retryAfter: undefined };
  }
}
