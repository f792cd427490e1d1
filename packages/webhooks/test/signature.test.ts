import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { buildSignatureHeaders, generateWebhookSecret, isWebhookSecret, signWebhook, verifyWebhook } from '../src/index.js';

describe('webhook signature', () => {
  const secret = generateWebhookSecret();
  const body = JSON.stringify({ type: 'job.succeeded', data: { id: 'abc' } });

  it('verifies with the standardwebhooks package', () => {
    const timestamp = new Date();
    const headers = buildSignatureHeaders(secret, 'msg_1', timestamp, body);

    assert.match(headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+=*$/);
    assert.equal(headers['webhook-timestamp'], Math.floor(timestamp.getTime() / 1000).toString());
    assert.deepEqual(new Webhook(secret).verify(body, { ...headers }), JSON.parse(body));
  });

  it('verifies with verifyWebhook', () => {
    const headers = buildSignatureHeaders(secret, 'msg_2', new Date(), body);
    assert.deepEqual(verifyWebhook(secret, { ...headers }, body), JSON.parse(body));
  });

  it('rejects a tampered body', () => {
    const headers = buildSignatureHeaders(secret, 'msg_3', new Date(), body);
    const tampered = body.replace('succeeded', 'failed');
    assert.throws(() => verifyWebhook(secret, { ...headers }, tampered), WebhookVerificationError);
  });

  it('rejects another secret', () => {
    const headers = buildSignatureHeaders(secret, 'msg_4', new Date(), body);
    assert.throws(() => verifyWebhook(generateWebhookSecret(), { ...headers }, body), WebhookVerificationError);
  });

  it('rejects a stale timestamp', () => {
    const tenMinutesAgo = new Date(Date.now() - 10 * 60 * 1000);
    const headers = buildSignatureHeaders(secret, 'msg_5', tenMinutesAgo, body);
    assert.throws(() => verifyWebhook(secret, { ...headers }, body), WebhookVerificationError);
  });

  it('signs the same as the package', () => {
    const timestamp = new Date(1_700_000_000_000);
    assert.equal(signWebhook(secret, 'msg_6', timestamp, body), new Webhook(secret).sign('msg_6', timestamp, body));
  });

  it('checks the secret format', () => {
    assert.equal(isWebhookSecret(secret), true);
    assert.equal(isWebhookSecret('whsec_'), false);
    assert.equal(isWebhookSecret('not-a-secret'), false);
    assert.throws(() => signWebhook('plain-text', 'msg_7', new Date(), body), /Invalid webhook secret/);
  });
});
