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
