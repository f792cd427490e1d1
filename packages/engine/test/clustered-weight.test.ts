import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { clusteredWeight } from '../src/clustered-weight.js';
import { useTestBackend } from './fixtures.js';

interface Gradients {
  value: number[];
  latent: number[];
  centroids: number[];
}

/**
 * Runs L = Σ upstream · clusteredWeight(latent, centroids), so that dL/d(output) is
 * `upstream`, and returns the forward value and both gradients.
 */
function gradientsFor(latentValues: number[], centroidValues: number[], upstream: number[]): Gradients {
  const latent = tf.variable(tf.tensor1d(latentValues));
  const centroids = tf.variable(tf.tensor1d(centroidValues));
  try {
    return tf.tidy(() => {
      let forward: number[] = [];
      const { grads } = tf.variableGrads(() => {
        const clustered = clusteredWeight(latent, centroids);
        forward = [...clustered.dataSync()];
        return tf.sum(tf.mul(clustered, tf.tensor1d(upstream))) as tf.Scalar;
      }, [latent, centroids]);
      return {
        value: forward,
        latent: [...(grads[latent.name] as tf.Tensor).dataSync()],
        centroids: [...(grads[centroids.name] as tf.Tensor).dataSync()],
      };
    });
  } finally {
    latent.dispose();
    centroids.dispose();
  }
}

describe('clustered weight op', () => {
  before(async () => {
    await useTestBackend();
  });

  // Latent 0.1 and 0.2 are nearest 0, 0.9 and 1.4 nearest 1, and 2.1 nearest 2.
  const latent = [0.1, 0.9, 0.2, 2.1, 1.4];
  const upstream = [1, 2, 3, 4, 5];

  it('replaces each weight by its nearest centroid', () => {
    assert.deepEqual(gradientsFor(latent, [0, 1, 2], upstream).value, [0, 1, 0, 2, 1]);
  });

  it('sums member gradients into each centroid', () => {
    // Centroid 0 has members 0 and 2 (1 + 3), centroid 1 members 1 and 4 (2 + 5), centroid 2 member 3.
    assert.deepEqual(gradientsFor(latent, [0, 1, 2], upstream).centroids, [4, 7, 4]);
  });

  it('passes the upstream gradient to latent weights', () => {
    assert.deepEqual(gradientsFor(latent, [0, 1, 2], upstream).latent, upstream);
  });

  it('indexes gradients by unsorted centroid order', () => {
    const result = gradientsFor(latent, [2, 0, 1], upstream);
    assert.deepEqual(result.value, [0, 1, 0, 2, 1]);
    assert.deepEqual(result.centroids, [4, 4, 7]);
  });

  it('gives an empty cluster a zero gradient', () => {
    assert.deepEqual(gradientsFor([0, 0.1], [0, 5], [2, 3]).centroids, [5, 0]);
  });

  it('keeps no tensors after a training step', () => {
    const latentVariable = tf.variable(tf.tensor2d([[0.3, -0.4], [0.9, 0.1]]));
    const centroidVariable = tf.variable(tf.tensor1d([-0.5, 0, 0.5]));
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      tf.variableGrads(() => tf.sum(tf.square(clusteredWeight(latentVariable, centroidVariable))) as tf.Scalar, [
        latentVariable,
        centroidVariable,
      ]);
    });
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([latentVariable, centroidVariable]);
  });
});
