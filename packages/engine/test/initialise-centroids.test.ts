import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initialiseCentroids } from '../src/initialise-centroids.js';
import { createRandom } from '../src/random.js';

function isSortedAscending(values: Float32Array): boolean {
  return values.every((value, i) => i === 0 || value >= (values[i - 1] as number));
}

function randomValues(count: number, seed: number): Float32Array {
  const random = createRandom(seed);
  return Float32Array.from({ length: count }, () => random.nextFloat() * 2 - 1);
}

describe('linear initialisation', () => {
  it('spans min to max with both ends included', () => {
    const values = new Float32Array([0.25, -1.5, 3, 0.5]);
    const centroids = initialiseCentroids(values, 4, 'linear', 0);
    assert.equal(centroids[0], -1.5);
    assert.equal(centroids[3], 3);
    assert.deepEqual([...centroids], [-1.5, 0, 1.5, 3]);
  });

  it('returns the minimum for one cluster', () => {
    assert.deepEqual([...initialiseCentroids(new Float32Array([2, 5]), 1, 'linear', 0)], [2]);
  });

  it('keeps the maximum exact where the step rounds', () => {
    const values = new Float32Array([0.1, 0.7]);
    const centroids = initialiseCentroids(values, 7, 'linear', 0);
    assert.equal(centroids[6], values[1]);
    assert.ok(isSortedAscending(centroids));
  });
});

describe('random initialisation', () => {
  it('draws within [min, max], sorted', () => {
    const values = randomValues(500, 1);
    const min = Math.min(...values);
    const max = Math.max(...values);
    const centroids = initialiseCentroids(values, 64, 'random', 5);
    assert.equal(centroids.length, 64);
    assert.ok(centroids.every((centroid) => centroid >= min));
    assert.ok(centroids.every((centroid) => centroid <= max));
    assert.ok(isSortedAscending(centroids));
  });

  it('repeats for the same seed and differs for another', () => {
    const values = randomValues(100, 2);
    assert.deepEqual(initialiseCentroids(values, 8, 'random', 11), initialiseCentroids(values, 8, 'random', 11));
    assert.notDeepEqual(initialiseCentroids(values, 8, 'random', 11), initialiseCentroids(values, 8, 'random', 12));
  });
});

describe('density-based initialisation', () => {
  it('returns exact empirical quantiles', () => {
    // Values 1..100: the quantile at p is the ⌈100p⌉-th smallest, which is ⌈100p⌉ itself.
    const values = Float32Array.from({ length: 100 }, (_, i) => 100 - i);
    // p = 0.01, 0.34, 0.67, 1.00.
    assert.deepEqual([...initialiseCentroids(values, 4, 'density_based', 0)], [1, 34, 67, 100]);
    // p = 0.01, 0.505, 1.00: rank ⌈50.5⌉ = 51.
    assert.deepEqual([...initialiseCentroids(values, 3, 'density_based', 0)], [1, 51, 100]);
  });

  it('rounds a rank that lands on an integer down to it', () => {
    // n = 10 and p = 0.01 + 0.99·k/99 = (k + 1)/100 for N = 100: rank ⌈(k + 1)/10⌉.
    const values = Float32Array.from({ length: 10 }, (_, i) => i + 1);
    const centroids = initialiseCentroids(values, 100, 'density_based', 0);
    assert.equal(centroids[9], 1); // p = 0.10 gives rank 1 exactly, not 2.
    assert.equal(centroids[10], 2); // p = 0.11 gives rank 2.
    assert.equal(centroids[99], 10);
  });

  it('uses the first percentile for one cluster', () => {
    const values = Float32Array.from({ length: 200 }, (_, i) => i);
    // p = 0.01, rank ⌈2⌉ = 2, the value 1.
    assert.deepEqual([...initialiseCentroids(values, 1, 'density_based', 0)], [1]);
  });
});

describe('k-means++ initialisation', () => {
  it('repeats for the same seed', () => {
    const values = randomValues(2000, 3);
    assert.deepEqual(initialiseCentroids(values, 16, 'kmeans_plus_plus', 4), initialiseCentroids(values, 16, 'kmeans_plus_plus', 4));
  });

  it('differs between seeds', () => {
    const values = randomValues(2000, 3);
    assert.notDeepEqual(initialiseCentroids(values, 16, 'kmeans_plus_plus', 4), initialiseCentroids(values, 16, 'kmeans_plus_plus', 5));
  });

  it('picks distinct values from the tensor', () => {
    const values = randomValues(1000, 6);
    const members = new Set(values);
    const centroids = initialiseCentroids(values, 32, 'kmeans_plus_plus', 1);
    assert.ok(centroids.every((centroid) => members.has(centroid)));
    assert.equal(new Set(centroids).size, 32);
    assert.ok(isSortedAscending(centroids));
  });

  it('finds every well-separated group', () => {
    // Five tight groups far apart: D² sampling almost surely seeds one centroid in each.
    const centres = [-40, -20, 0, 20, 40];
    const random = createRandom(8);
    const values = Float32Array.from({ length: 500 }, (_, i) => (centres[i % 5] as number) + random.nextFloat() * 0.1);
    const centroids = initialiseCentroids(values, 5, 'kmeans_plus_plus', 2);
    centres.forEach((centre, k) => assert.ok(Math.abs((centroids[k] as number) - centre) < 0.2, `centroid ${k} is ${centroids[k]}`));
  });

  it('has a lower squared error than random initialisation', () => {
    const values = randomValues(3000, 10).map((value) => value ** 3);
    const error = (centroids: Float32Array): number =>
      values.reduce((sum, value) => sum + Math.min(...[...centroids].map((centroid) => (value - centroid) ** 2)), 0);
    assert.ok(error(initialiseCentroids(values, 8, 'kmeans_plus_plus', 1)) < error(initialiseCentroids(values, 8, 'random', 1)));
  });
});

describe('degenerate tensors', () => {
  for (const method of ['linear', 'random', 'density_based', 'kmeans_plus_plus'] as const) {
    it(`${method} repeats the value of a constant tensor`, () => {
      const centroids = initialiseCentroids(new Float32Array(10).fill(0.75), 4, method, 0);
      assert.deepEqual([...centroids], [0.75, 0.75, 0.75, 0.75]);
    });
  }

  it('k-means++ repeats values when clusters outnumber distinct values', () => {
    const values = new Float32Array([1, 1, 2, 2, 3, 3, 3]);
    const centroids = initialiseCentroids(values, 5, 'kmeans_plus_plus', 0);
    assert.deepEqual([...new Set(centroids)], [1, 2, 3]);
    assert.equal(centroids.length, 5);
  });

  it('density-based repeats values when clusters outnumber distinct values', () => {
    const centroids = initialiseCentroids(new Float32Array([5, 7, 5, 7]), 4, 'density_based', 0);
    assert.deepEqual([...centroids], [5, 5, 7, 7]);
  });
});

describe('invalid input', () => {
  it('rejects an empty tensor', () => {
    assert.throws(() => initialiseCentroids(new Float32Array(0), 2, 'linear', 0), RangeError);
  });

  it('rejects NaN and infinite values', () => {
    assert.throws(() => initialiseCentroids(new Float32Array([1, NaN]), 2, 'linear', 0), /flat index 1 is NaN/);
    assert.throws(() => initialiseCentroids(new Float32Array([Infinity, 1]), 2, 'kmeans_plus_plus', 0), /flat index 0 is Infinity/);
  });

  it('rejects a cluster count below 1', () => {
    assert.throws(() => initialiseCentroids(new Float32Array([1, 2]), 0, 'linear', 0), RangeError);
  });
});
