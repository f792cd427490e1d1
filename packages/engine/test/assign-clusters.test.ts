import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { assignClusters, assignClustersOp } from '../src/assign-clusters.js';
import { createRandom } from '../src/random.js';
import { useTestBackend } from './fixtures.js';

/**
 * Returns argmin_j |v − c_j| per value by comparing every centroid. A tie goes to the
 * smaller centroid, then to the lower index. Assignment must follow the same rule.
 */
function bruteForceIndices(values: Float32Array, centroids: Float32Array): number[] {
  return [...values].map((value) => {
    let best = 0;
    for (let j = 1; j < centroids.length; j++) {
      const distance = Math.abs(value - (centroids[j] as number));
      const bestDistance = Math.abs(value - (centroids[best] as number));
      const isSmallerOnTie = distance === bestDistance && (centroids[j] as number) < (centroids[best] as number);
      if (distance < bestDistance || isSmallerOnTie) best = j;
    }
    return best;
  });
}

/** Random values on a grid of quarters, so many fall exactly on midpoints of the centroids. */
function gridValues(count: number, seed: number): Float32Array {
  const random = createRandom(seed);
  return Float32Array.from({ length: count }, () => (random.nextInt(41) - 20) / 4);
}

describe('assignment by binary search', () => {
  it('equals brute force on random inputs', () => {
    const random = createRandom(1);
    for (let round = 0; round < 20; round++) {
      const values = Float32Array.from({ length: 500 }, () => random.nextFloat() * 4 - 2);
      const centroids = Float32Array.from({ length: 1 + random.nextInt(16) }, () => random.nextFloat() * 4 - 2).sort();
      assert.deepEqual([...assignClusters(values, centroids)], bruteForceIndices(values, centroids), `round ${round}`);
    }
  });

  it('equals brute force on exact ties', () => {
    const values = gridValues(400, 2);
    // With integer centroids, a value on a half-integer lies exactly between two of them.
    const centroids = new Float32Array([-4, -2, -1, 0, 1, 3]);
    assert.deepEqual([...assignClusters(values, centroids)], bruteForceIndices(values, centroids));
  });

  it('sends a value on a midpoint to the lower centroid', () => {
    assert.deepEqual([...assignClusters(new Float32Array([0.5, 1.5]), new Float32Array([0, 1, 2]))], [0, 1]);
  });

  it('sends values to the first of equal centroids', () => {
    const centroids = new Float32Array([0, 1, 1, 1, 2]);
    const values = new Float32Array([0.9, 1, 1.1, 1.5]);
    assert.deepEqual([...assignClusters(values, centroids)], [1, 1, 1, 1]);
    assert.deepEqual([...assignClusters(values, centroids)], bruteForceIndices(values, centroids));
  });

  it('assigns everything to one centroid', () => {
    assert.deepEqual([...assignClusters(new Float32Array([-5, 0, 5]), new Float32Array([1]))], [0, 0, 0]);
  });

  it('rejects unsorted centroids', () => {
    assert.throws(() => assignClusters(new Float32Array([0]), new Float32Array([1, 0])), /centroid 1 is 0 after 1/);
  });

  it('rejects NaN values', () => {
    assert.throws(() => assignClusters(new Float32Array([0, NaN]), new Float32Array([0, 1])), /flat index 1 is NaN/);
  });
});

describe('assignment as a tensor op', () => {
  before(async () => {
    await useTestBackend();
  });

  it('equals brute force with unsorted and repeated centroids', () => {
    const values = gridValues(300, 3);
    const centroids = new Float32Array([3, -1, 0, -4, 1, 0, -2]);
    const indices = tf.tidy(() => assignClustersOp(tf.tensor1d(values), tf.tensor1d(centroids)).dataSync());
    assert.deepEqual([...indices], bruteForceIndices(values, centroids));
  });

  it('equals the array version on random inputs', () => {
    const random = createRandom(4);
    const values = Float32Array.from({ length: 1000 }, () => random.nextFloat() * 2 - 1);
    const centroids = Float32Array.from({ length: 12 }, () => random.nextFloat() * 2 - 1).sort();
    const indices = tf.tidy(() => assignClustersOp(tf.tensor1d(values), tf.tensor1d(centroids)).dataSync());
    assert.deepEqual([...indices], [...assignClusters(values, centroids)]);
  });

  it('keeps the shape of the values and returns int32', () => {
    const result = tf.tidy(() => {
      const indices = assignClustersOp(tf.tensor3d([[[0.1, 0.9]], [[2.2, 1.4]]]), tf.tensor1d([0, 1, 2]));
      return { shape: indices.shape, dtype: indices.dtype, data: [...indices.dataSync()] };
    });
    assert.deepEqual(result.shape, [2, 1, 2]);
    assert.equal(result.dtype, 'int32');
    assert.deepEqual(result.data, [0, 1, 2, 1]);
  });

  it('assigns everything to a single centroid', () => {
    const indices = tf.tidy(() => [...assignClustersOp(tf.tensor1d([-1, 7]), tf.tensor1d([3])).dataSync()]);
    assert.deepEqual(indices, [0, 0]);
  });

  it('leaks no tensors', () => {
    const before = tf.memory().numTensors;
    const values = tf.tensor1d([0.2, 0.7]);
    const centroids = tf.tensor1d([1, 0]);
    assignClustersOp(values, centroids).dispose();
    tf.dispose([values, centroids]);
    assert.equal(tf.memory().numTensors, before);
  });
});
