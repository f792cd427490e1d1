import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { CentroidError } from '@centroid/contracts';
import { selectBackend } from '../src/backend.js';

// @tensorflow/tfjs-node-gpu is never installed here. @tensorflow/tfjs-node is present only
// after `pnpm setup:native`, so the automatic choice is `tensorflow` or `cpu`.
describe('backend selection', () => {
  it('picks the first backend that loads', async () => {
    const backend = await selectBackend({});
    assert.deepEqual(backend.skipped[0], { name: 'tensorflow-gpu', reason: '@tensorflow/tfjs-node-gpu is not installed' });

    if (backend.name === 'cpu') {
      assert.equal(backend.version, tf.version.tfjs);
      assert.equal(tf.getBackend(), 'cpu');
      assert.equal(backend.skipped[1]?.name, 'tensorflow');
      assert.match(backend.skipped[1]?.reason ?? '', /not installed|not built|failed to load/);
    } else {
      assert.equal(backend.name, 'tensorflow');
      assert.equal(tf.getBackend(), 'tensorflow');
      assert.equal(backend.skipped.length, 1);
    }
  });

  it('loads the forced cpu backend', async () => {
    const backend = await selectBackend({ CENTROID_BACKEND: 'cpu' });
    assert.equal(backend.name, 'cpu');
    assert.deepEqual(backend.skipped, []);
  });

  it('raises when the forced backend cannot load', async () => {
    await assert.rejects(
      selectBackend({ CENTROID_BACKEND: 'tensorflow-gpu' }),
      (error: unknown) =>
        error instanceof CentroidError &&
        error.code === 'BACKEND_UNAVAILABLE' &&
        error.location.field === 'CENTROID_BACKEND' &&
        /@tensorflow\/tfjs-node-gpu is not installed/.test(error.message),
    );
  });

  it('rejects an unknown backend name', async () => {
    await assert.rejects(selectBackend({ CENTROID_BACKEND: 'webgpu' }), /expected one of tensorflow-gpu, tensorflow, cpu/);
  });
});
