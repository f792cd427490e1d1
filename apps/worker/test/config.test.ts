import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readWorkerConfig } from '../src/config.js';

describe('readWorkerConfig integers', () => {
  it('reads a decimal concurrency', () => {
    assert.equal(readWorkerConfig({ CENTROID_WORKER_CONCURRENCY: '4' }).concurrency, 4);
  });

  for (const raw of ['0x10', '1e1', ' 4', '4.0']) {
    it(`rejects concurrency '${raw}'`, () => {
      assert.throws(() => readWorkerConfig({ CENTROID_WORKER_CONCURRENCY: raw }), /Invalid CENTROID_WORKER_CONCURRENCY=/);
    });
  }
});

describe('readWorkerConfig heartbeat interval', () => {
  it('defaults to 10 seconds', () => {
    assert.equal(readWorkerConfig({}).heartbeatIntervalMs, 10_000);
  });

  it('reads CENTROID_HEARTBEAT_INTERVAL_MS', () => {
    assert.equal(readWorkerConfig({ CENTROID_HEARTBEAT_INTERVAL_MS: '2500' }).heartbeatIntervalMs, 2500);
  });

  it('rejects an interval below 100 ms', () => {
    assert.throws(() => readWorkerConfig({ CENTROID_HEARTBEAT_INTERVAL_MS: '50' }), /Invalid CENTROID_HEARTBEAT_INTERVAL_MS='50': expected an integer from 100/);
  });
});
