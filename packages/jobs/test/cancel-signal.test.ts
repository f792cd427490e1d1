import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { CancelSignal, createJobId } from '../src/index.js';
import { TEST_REDIS_URL, createTestPrefix, deleteKeys } from './redis-fixture.js';

describe('CancelSignal', () => {
  const prefix = createTestPrefix();
  let redis: Redis;
  let subscriber: Redis;
  let signal: CancelSignal;

  before(() => {
    redis = new Redis(TEST_REDIS_URL);
    subscriber = new Redis(TEST_REDIS_URL);
    signal = new CancelSignal({ connection: redis, prefix });
  });

  after(async () => {
    await deleteKeys(redis, prefix);
    await subscriber.quit();
    await redis.quit();
  });

  it('flags a job and notifies subscribers', async () => {
    const jobId = createJobId();
    let notify: (id: string) => void = () => undefined;
    const received = new Promise<string>((resolve) => {
      notify = resolve;
    });
    const unsubscribe = await signal.subscribe(subscriber, (id) => notify(id));

    await signal.request(jobId);
    assert.equal(await received, jobId);
    await unsubscribe();

    assert.equal(await signal.isRequested(jobId), true);
    assert.equal(await signal.isRequested(createJobId()), false);

    await signal.clear(jobId);
    assert.equal(await signal.isRequested(jobId), false);
  });
});
