// Standard Webhooks signatures, made and checked by the `standardwebhooks` package: the
// signature is `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under the secret.
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

const SECRET_PATTERN = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

/** The three headers that carry a Standard Webhooks signature. */
export interface WebhookSignatureHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** Checks that a secret has the form `whsec_<base64>`. */
export function isWebhookSecret(secret: string): boolean {
  return SECRET_PATTERN.test(secret);
}

/** Creates a secret of 32 random bytes in the form `whsec_<base64>`. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** Signs a webhook body and returns the value of the `webhook-signature` header. */
export function signWebhook(secret: string, id: string, timestamp: Date, body: string): string {
  assertSecret(secret);
  return new Webhook(secret).sign(id, timestamp, body);
}

/** Signs a webhook body and returns all three signature headers. */
export function buildSignatureHeaders(secret: string, id: string, timestamp: Date, body: string): WebhookSignatureHeaders {
  return {
    'webhook-id': id,
    'webhook-timestamp': Math.floor(timestamp.getTime() / 1000).toString(),
    'webhook-signature': signWebhook(secret, id, timestamp, body),
  };
}

/**
 * Verifies a received webhook and returns its parsed JSON body. Raises the package's
 * WebhookVerificationError when a header is missing, the signature does not match, or the
 * timestamp is more than five minutes from now (the package's tolerance in version 1.3).
 */
export function verifyWebhook(secret: string, headers: Record<string, string>, body: string): unknown {
  assertSecret(secret);
  return new Webhook(secret).verify(body, headers);
}

function assertSecret(secret: string): void {
  if (!isWebhookSecret(secret)) throw new Error('Invalid webhook secret: expected whsec_ followed by base64.');
}
