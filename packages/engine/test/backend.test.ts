import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { CentroidError } from '@centroid/contracts';
import { selectBackend } from '../src/backend.js';

// These tests assume the packages this repository installs, which include
// @tensorflow/tfjs but neither @tensorflow/tfjs-node nor @tensorflow/tfjs-node-gpu.
describe('backend selection', () => {
  it('falls back to the pure-JavaScript backend', async () => {
    const backend = await selectBackend({});
    assert.equal(backend.name, 'cpu');
    assert.equal(backend.version, tf.version.tfjs);
    assert.equal(tf.getBackend(), 'cpu');
    assert.deepEqual(
      backend.skipped,
      [
        { name: 'tensorflow-gpu', reason: '@tensorflow/tfjs-node-gpu is not installed' },
        { name: 'tensorflow', reason: '@tensorflow/tfjs-node is not installed' },
      ],
    );
  });

  it('loads the forced cpu backend', async () => {
    const backend = await selectBackend({ CENTROID_BACKEND: 'cpu' });
    assert.equal(backend.name, 'cpu');
    assert.deepEqual(backend.skipped, []);
  });

  it('raises when the forced backend cannot load', async () => {
    await assert.rejects(
      selectBackend({ CENTROID_BACKEND: 'tensorflow' }),
      (error: unknown) =>
        error instanceof CentroidError &&
        error.code === 'BACKEND_UNAVAILABLE' &&
        error.location.field === 'CENTROID_BACKEND' &&
        /@tensorflow\/tfjs-node is not installed/.test(error.message),
    );
  });

  it('rejects an unknown backend name', async () => {
    await assert.rejects(selectBackend({ CENTROID_BACKEND: 'webgpu' }), /expected one of tensorflow-gpu, tensorflow, cpu/);
  });
});
