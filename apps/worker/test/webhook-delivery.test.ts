// The webhook sender against real Redis and a local receiver: retries scheduled by BullMQ,
// attempts recorded on the job, and deliveries that outlive the worker that started them.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { JobParamsSchema, WebhookPayloadSchema, type Job } from '@centroid/contracts';
import { JobStore, ServiceCounters, WebhookQueue, buildQueuedJob, createJobId, createWorkerConnection, type RedisConnection } from '@centroid/jobs';
import { generateWebhookSecret, verifyWebhook } from '@centroid/webhooks';
import { pino } from 'pino';
import { WebhookSender, type WebhookDeliverySettings } from '../src/webhook-sender.js';
import { WebhookReceiver } from './webhook-receiver.js';
import { TEST_REDIS_URL } from './worker-fixture.js';

describe('WebhookSender', () => {
  const prefix = `centroid-test-${randomUUID()}`;
  const secret = generateWebhookSecret();
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  let connection: RedisConnection;
  let store: JobStore;
  let receiver: WebhookReceiver;
  let receiverUrl: string;

  before(async () => {
    connection = createWorkerConnection(TEST_REDIS_URL);
    if (connection.status !== 'ready') await once(connection, 'ready');
    store = new JobStore({ connection, prefix });
    receiver = new WebhookReceiver();
    receiverUrl = await receiver.start();
  });

  after(async () => {
    const queue = new WebhookQueue({ connection, prefix });
    await queue.obliterate();
    await queue.close();
    let cursor = '0';
    do {
      const [next, keys] = await connection.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      if (keys.length > 0) await connection.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    await connection.quit();
    await receiver.stop();
  });

  const startSender = async (delivery: WebhookDeliverySettings): Promise<WebhookSender> => {
    const counters = new ServiceCounters({ connection, prefix });
    const sender = new WebhookSender({ store, counters, connection, prefix, secret, allowPrivateAddresses: true, delivery, log });
    await sender.start();
    return sender;
  };

  const finishedJob = async (): Promise<Job> => {
    const params = JobParamsSchema.parse({ number_of_clusters: 8, webhook: { url: receiverUrl } });
    const model = { filename: 'model.h5', bytes: 64, sha256: '0'.repeat(64) };
    const job = await store.create(buildQueuedJob({ id: createJobId(), params, model, dataset: null }));
    await store.setStatus(job.id, 'running');
    const update = await store.setStatus(job.id, 'succeeded');
    assert.ok(update !== null);
    return update.job;
  };

  const waitForRecord = async (jobId: string, done: (job: Job) => boolean): Promise<Job> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const job = await store.get(jobId);
      if (job !== null && done(job)) return job;
      if (Date.now() > deadline) throw new Error(`job ${jobId} did not reach the expected webhook state: ${JSON.stringify(job?.webhook)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const waitForCounter = async (outcome: string, count: number): Promise<void> => {
    const counters = new ServiceCounters({ connection, prefix });
    const deadline = Date.now() + 5000;
    while ((await counters.read()).webhookDeliveries[outcome] !== count) {
      if (Date.now() > deadline) throw new Error(`webhook outcome ${outcome} was not counted ${count} times: ${JSON.stringify(await counters.read())}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  it('retries until the receiver accepts', async () => {
    const sender = await startSender({ backoff: { initialDelayMs: 50, maxDelayMs: 100 } });
    try {
      const job = await finishedJob();
      receiver.script(503, 500);
      await sender.send(job);

      const third = await receiver.waitFor(job.id, 10_000, 3);
      assert.equal(third.status, 204);
      const recorded = await waitForRecord(job.id, (current) => current.webhook?.delivered === true);
      assert.deepEqual(recorded.webhook?.attempts.map((attempt) => attempt.status), [503, 500, 204]);
      const payload = WebhookPayloadSchema.parse(verifyWebhook(secret, third.headers, third.body));
      assert.equal(payload.type, 'job.succeeded');
      assert.equal(payload.data.id, job.id);
    } finally {
      await sender.close(1000);
    }
  });

  it('finishes a retry after a restart', async () => {
    // The first worker's retry is due 1 s after its failed attempt, and it stops before then.
    const delivery = { backoff: { initialDelayMs: 1000, maxDelayMs: 1000 } };
    const first = await startSender(delivery);
    const job = await finishedJob();
    receiver.script(503);
    await first.send(job);
    await receiver.waitFor(job.id);
    await waitForRecord(job.id, (current) => current.webhook?.attempts.length === 1);
    await first.close(1000);

    const pending = new WebhookQueue({ connection, prefix });
    assert.equal(await pending.countPending(), 1);
    await pending.close();

    const second = await startSender(delivery);
    try {
      const retried = await receiver.waitFor(job.id, 10_000, 2);
      const original = receiver.received.filter((webhook) => webhook.body.includes(job.id))[0];
      assert.ok(original !== undefined);
      assert.equal(retried.status, 204);
      assert.equal(retried.headers['webhook-id'], `msg_${job.id}`);
      assert.equal(retried.headers['webhook-id'], original.headers['webhook-id']);
      assert.equal(retried.body, original.body);
      const recorded = await waitForRecord(job.id, (current) => current.webhook?.delivered === true);
      assert.deepEqual(recorded.webhook?.attempts.map((attempt) => attempt.status), [503, 204]);
    } finally {
      await second.close(1000);
    }
  });

  it('closes without waiting for a retry', async () => {
    const sender = await startSender({ backoff: { initialDelayMs: 600_000, maxDelayMs: 600_000 } });
    const job = await finishedJob();
    receiver.script(503);
    await sender.send(job);
    await waitForRecord(job.id, (current) => current.webhook?.attempts.length === 1);

    // The next attempt is ten minutes away. A close that waited for it would hit the test timeout.
    await sender.close(1000);
    const pending = new WebhookQueue({ connection, prefix });
    assert.equal(await pending.countPending(), 1);
    await pending.obliterate();
    await pending.close();
  });

  it('stops after the last attempt', async () => {
    const sender = await startSender({ maxAttempts: 2, backoff: { initialDelayMs: 50, maxDelayMs: 50 } });
    try {
      const job = await finishedJob();
      receiver.script(502, 502, 502);
      await sender.send(job);

      const recorded = await waitForRecord(job.id, (current) => current.webhook?.attempts.length === 2);
      assert.equal(recorded.webhook?.delivered, false);
      await waitForCounter('attempts_exhausted', 1);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(receiver.received.filter((webhook) => webhook.body.includes(job.id)).length, 2);
    } finally {
      await sender.close(1000);
    }
  });

  it('stops at 410 Gone', async () => {
    const sender = await startSender({ backoff: { initialDelayMs: 50, maxDelayMs: 50 } });
    try {
      const job = await finishedJob();
      receiver.script(410);
      await sender.send(job);

      const recorded = await waitForRecord(job.id, (current) => current.webhook?.attempts.length === 1);
      assert.equal(recorded.webhook?.delivered, false);
      await waitForCounter('gone', 1);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(receiver.received.filter((webhook) => webhook.body.includes(job.id)).length, 1);
    } finally {
      await sender.close(1000);
    }
  });
});
