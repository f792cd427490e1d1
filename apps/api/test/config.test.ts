import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readApiConfig } from '../src/config.js';

describe('readApiConfig', () => {
  it('reads CENTROID_WEBHOOK_ALLOW_PRIVATE', () => {
    assert.equal(readApiConfig({}).allowPrivateWebhooks, false);
    assert.equal(readApiConfig({ CENTROID_WEBHOOK_ALLOW_PRIVATE: '1' }).allowPrivateWebhooks, true);
    assert.equal(readApiConfig({ CENTROID_WEBHOOK_ALLOW_PRIVATE: '0' }).allowPrivateWebhooks, false);
  });
});

describe('readApiConfig integers', () => {
  it('reads a decimal PORT', () => {
    assert.equal(readApiConfig({ PORT: '8081' }).port, 8081);
  });

  for (const raw of ['0x10', '1e3', ' 80', '80.0', '0b1', '8_0']) {
    it(`rejects PORT='${raw}'`, () => {
      assert.throws(() => readApiConfig({ PORT: raw }), /Invalid PORT=.*expected an integer from 0 to 65535/);
    });
  }
});
