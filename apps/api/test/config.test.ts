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
