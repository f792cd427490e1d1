import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { WebhookPayload } from '@centroid/contracts';
import { deliverWebhook, generateWebhookSecret, verifyWebhook } from '../src/index.js';

interface ReceivedRequest {
  headers: Record<string, string>;
  body: string;
  at: number;
}

type Reply = (response: http.ServerResponse) => void;

/** A receiver on 127.0.0.1 that responds to each request with the next reply in its script. */
class LocalReceiver {
  readonly requests: ReceivedRequest[] = [];
  private readonly server = http.createServer((request, response) => void this.handle(request, response));
  private replies: Reply[] = [];

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  url(path = '/hook'): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}${path}`;
  }

  script(...replies: Reply[]): void {
    this.replies = replies;
    this.requests.length = 0;
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    this.requests.push({ headers: request.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });

    const reply = this.replies.shift() ?? status(200);
    reply(response);
  }
}

function status(code: number, headers: Record<string, string> = {}): Reply {
  return (response) => {
    response.writeHead(code, headers);
    response.end();
  };
}

const PAYLOAD = {
  type: 'job.succeeded',
  timestamp: new Date().toISOString(),
  data: { id: 'job-under-test' },
} as unknown as WebhookPayload;

describe('deliverWebhook', () => {
  const receiver = new LocalReceiver();
  const secret = generateWebhookSecret();
  const fast = { secret, allowPrivateAddresses: true, backoff: { initialDelayMs: 10, maxDelayMs: 50 }, timeoutMs: 2000 };

  before(() => receiver.start());
  after(() => receiver.stop());

  it('retries after 500 until success', async () => {
    receiver.script(status(500), status(500), status(204));
    const recorded: number[] = [];

    const result = await deliverWebhook(receiver.url(), PAYLOAD, {
      ...fast,
      maxAttempts: 5,
      onAttempt: (_attempt, attempts) => {
        recorded.push(attempts.length);
      },
    });

    assert.equal(result.delivered, true);
    assert.equal(result.outcome, 'delivered');
    assert.deepEqual(result.attempts.map((attempt) => attempt.status), [500, 500, 204]);
    assert.equal(result.attempts[0]?.error, 'Receiver returned HTTP 500.');
    assert.equal(result.attempts[2]?.error, null);
    assert.deepEqual(recorded, [1, 2, 3]);

    assert.equal(receiver.requests.length, 3);
    const ids = new Set(receiver.requests.map((request) => request.headers['webhook-id']));
    assert.equal(ids.size, 1, 'webhook-id stays the same across retries');
    for (const request of receiver.requests) {
      assert.deepEqual(verifyWebhook(secret, request.headers, request.body), JSON.parse(JSON.stringify(PAYLOAD)));
      assert.equal(request.headers['content-type'], 'application/json');
    }
  });

  it('stops after 410 Gone', async () => {
    receiver.script(status(410), status(200));
    const result = await deliverWebhook(receiver.url(), PAYLOAD, { ...fast, maxAttempts: 5 });

    assert.equal(result.delivered, false);
    assert.equal(result.outcome, 'gone');
    assert.equal(result.attempts.length, 1);
    assert.equal(receiver.requests.length, 1);
  });

  it('gives up after the last attempt', async () => {
    receiver.script(status(502), status(502), status(502));
    const result = await deliverWebhook(receiver.url(), PAYLOAD, { ...fast, maxAttempts: 2 });

    assert.equal(result.outcome, 'attempts_exhausted');
    assert.equal(result.attempts.length, 2);
    assert.equal(receiver.requests.length, 2);
  });

  it('waits as long as Retry-After asks', async () => {
    receiver.script(status(503, { 'retry-after': '1' }), status(200));
    const result = await deliverWebhook(receiver.url(), PAYLOAD, { ...fast, maxAttempts: 3, backoff: { initialDelayMs: 10, maxDelayMs: 5000 } });

    assert.equal(result.delivered, true);
    const [first, second] = receiver.requests;
    assert.ok(first !== undefined);
    assert.ok(second !== undefined);
    assert.ok(second.at - first.at >= 950, `second attempt came ${second.at - first.at} ms after the first`);
  });

  it('keeps backoff over shorter Retry-After', async () => {
    receiver.script(status(503, { 'retry-after': '0' }), status(503, { 'retry-after': '0' }), status(200));
    const backoff = { initialDelayMs: 400, maxDelayMs: 5000 };
    const result = await deliverWebhook(receiver.url(), PAYLOAD, { ...fast, maxAttempts: 3, backoff, random: () => 1 });

    assert.equal(result.delivered, true);
    const [first, second, third] = receiver.requests;
    assert.ok(first !== undefined);
    assert.ok(second !== undefined);
    assert.ok(third !== undefined);
    // With random() = 1 the backoff is exactly 400 ms, then 800 ms.
    assert.ok(second.at - first.at >= 380, `second attempt came ${second.at - first.at} ms after the first`);
    assert.ok(third.at - second.at >= 780, `third attempt came ${third.at - second.at} ms after the second`);
  });

  it('does not follow redirects', async () => {
    receiver.script(status(302, { location: '/elsewhere' }), status(302, { location: '/elsewhere' }));
    const result = await deliverWebhook(receiver.url(), PAYLOAD, { ...fast, maxAttempts: 2 });

    assert.equal(result.delivered, false);
    assert.deepEqual(result.attempts.map((attempt) => attempt.status), [302, 302]);
    assert.equal(receiver.requests.length, 2);
  });

  it('rejects a loopback receiver by default', async () => {
    receiver.script(status(200));
    const result = await deliverWebhook(receiver.url(), PAYLOAD, { secret, maxAttempts: 5 });

    assert.equal(result.outcome, 'address_rejected');
    assert.equal(result.attempts.length, 1);
    assert.match(result.attempts[0]?.error ?? '', /loopback address/);
    assert.equal(receiver.requests.length, 0);
  });

  it('times out a silent receiver', async () => {
    receiver.script(() => undefined);
    const result = await deliverWebhook(receiver.url(), PAYLOAD, { ...fast, timeoutMs: 200, maxAttempts: 1 });

    assert.equal(result.outcome, 'attempts_exhausted');
    assert.equal(result.attempts[0]?.status, null);
    assert.match(result.attempts[0]?.error ?? '', /timed out after 200 ms/);
  });

  it('stops reading a large response', async () => {
    receiver.script((response) => {
      response.writeHead(200);
      // Never ends: delivery must return after reading its cap.
      const block = Buffer.alloc(16 * 1024, 120);
      const interval = setInterval(() => response.write(block), 1);
      response.on('close', () => clearInterval(interval));
    });
    const result = await deliverWebhook(receiver.url(), PAYLOAD, { ...fast, maxAttempts: 1, maxResponseBytes: 64 * 1024 });

    assert.equal(result.delivered, true);
  });

  it('stops when aborted', async () => {
    receiver.script(status(500), status(500), status(500));
    const controller = new AbortController();
    const result = await deliverWebhook(receiver.url(), PAYLOAD, {
      ...fast,
      maxAttempts: 3,
      backoff: { initialDelayMs: 5000, maxDelayMs: 5000 },
      signal: controller.signal,
      onAttempt: () => controller.abort(),
    });

    assert.equal(result.outcome, 'aborted');
    assert.equal(result.attempts.length, 1);
  });
});
