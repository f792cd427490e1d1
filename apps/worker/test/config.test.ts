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

describe('readWorkerConfig retention', () => {
  it('keeps jobs a week by default', () => {
    assert.equal(readWorkerConfig({}).retentionMs, 7 * 24 * 3600 * 1000);
  });

  it('reads CENTROID_RETENTION_HOURS', () => {
    assert.equal(readWorkerConfig({ CENTROID_RETENTION_HOURS: '2' }).retentionMs, 2 * 3600 * 1000);
    assert.equal(readWorkerConfig({ CENTROID_RETENTION_HOURS: '0' }).retentionMs, 0);
  });

  it('rejects a negative retention', () => {
    assert.throws(() => readWorkerConfig({ CENTROID_RETENTION_HOURS: '-1' }), /Invalid CENTROID_RETENTION_HOURS/);
  });
});

describe('readWorkerConfig k-means settings', () => {
  it('accepts positive integers', () => {
    assert.doesNotThrow(() => readWorkerConfig({ CENTROID_KMEANS_THREADS: '2', CENTROID_KMEANS_MAX_BYTES: '1000000' }));
  });

  for (const name of ['CENTROID_KMEANS_THREADS', 'CENTROID_KMEANS_MAX_BYTES']) {
    for (const raw of ['abc', '0', '-1', '1.5', '2GB']) {
      it(`rejects ${name}='${raw}'`, () => {
        assert.throws(() => readWorkerConfig({ [name]: raw }), new RegExp(`^RangeError: ${name} must be a positive integer.*, got "${raw}"$`));
      });
    }
  }
});
