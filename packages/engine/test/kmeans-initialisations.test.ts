import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CentroidInitialisation } from '@centroid/contracts';
import { initialiseCentroids } from '../src/initialise-centroids.js';
import { InsufficientMemoryError, optimalKmeans1dCentroids, planThreads } from '../src/kmeans-1d-optimal.js';
import { MAX_LLOYD_ITERATIONS } from '../src/kmeans-lloyd.js';
import { createRandom, type RandomStream } from '../src/random.js';
import { sumOfSquaredErrors } from '../src/squared-error.js';
import { setEnvironmentForTest } from './fixtures.js';

const OTHER_METHODS: readonly CentroidInitialisation[] = ['linear', 'random', 'density_based', 'kmeans_plus_plus', 'kmeans'];

function isSortedAscending(values: Float32Array): boolean {
  return values.every((value, i) => i === 0 || value >= (values[i - 1] as number));
}

/** Values from a small pool of levels, so that ties are common. */
function valuesWithTies(count: number, levels: number, random: RandomStream): Float32Array {
  const pool = Float32Array.from({ length: levels }, () => random.nextFloat() * 4 - 2);
  return Float32Array.from({ length: count }, () => pool[random.nextInt(levels)] as number);
}

function normalValues(count: number, random: RandomStream): Float32Array {
  return Float32Array.from({ length: count }, () => {
    const u = 1 - random.nextFloat();
    const v = random.nextFloat();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  });
}

/**
 * Returns the lowest squared error over every split of the sorted values into `clusters`
 * non-empty contiguous groups (or fewer groups when there are fewer values), each group
 * at its exact mean.
 */
function bruteForceError(values: Float32Array, clusters: number): number {
  const sorted = Array.from(values).sort((a, b) => a - b);
  const groupError = (from: number, to: number): number => {
    const group = sorted.slice(from, to);
    const mean = group.reduce((sum, value) => sum + value, 0) / group.length;
    return group.reduce((sum, value) => sum + (value - mean) ** 2, 0);
  };
  const search = (from: number, groupsLeft: number): number => {
    if (groupsLeft === 1) return groupError(from, sorted.length);
    let best = groupError(from, sorted.length);
    for (let end = from + 1; end < sorted.length; end++) {
      best = Math.min(best, groupError(from, end) + search(end, groupsLeft - 1));
    }
    return best;
  };
  return search(0, Math.min(clusters, sorted.length));
}

/**
 * Returns the lowest squared error of `values` in `clusters` runs by the plain O(N·m²)
 * dynamic programme over the sorted distinct values, with each run's error summed
 * directly about its mean.
 */
function quadraticProgrammeError(values: Float32Array, clusters: number): number {
  const sorted = Array.from(values).sort((a, b) => a - b);
  const distinct = [...new Set(sorted)];
  const counts = distinct.map((value) => sorted.filter((other) => other === value).length);
  const runError = (from: number, to: number): number => {
    let weight = 0;
    let sum = 0;
    for (let i = from; i < to; i++) {
      weight += counts[i] as number;
      sum += (counts[i] as number) * (distinct[i] as number);
    }
    const mean = sum / weight;
    let error = 0;
    for (let i = from; i < to; i++) error += (counts[i] as number) * ((distinct[i] as number) - mean) ** 2;
    return error;
  };

  const m = distinct.length;
  const usable = Math.min(clusters, m);
  let previous = Array.from({ length: m + 1 }, (_, p) => (p === 0 ? Infinity : runError(0, p)));
  for (let layer = 2; layer <= usable; layer++) {
    const next = Array.from({ length: m + 1 }, () => Infinity);
    for (let p = layer; p <= m; p++) {
      for (let q = layer - 1; q < p; q++) next[p] = Math.min(next[p] as number, (previous[q] as number) + runError(q, p));
    }
    previous = next;
  }
  return previous[m] as number;
}

/** Absolute slack for comparing squared errors, which carry float32 centroids and float64 sums. */
function slack(error: number): number {
  return 1e-9 * Math.max(1, error);
}

describe('exact 1-D k-means', () => {
  it('matches brute force on small inputs with ties', () => {
    const random = createRandom(21);
    for (let trial = 0; trial < 400; trial++) {
      const count = 1 + random.nextInt(12);
      const clusters = 1 + random.nextInt(5);
      const values = valuesWithTies(count, 1 + random.nextInt(count + 2), random);
      const centroids = initialiseCentroids(values, clusters, 'kmeans_1d_optimal', 0);
      const expected = bruteForceError(values, clusters);
      const actual = sumOfSquaredErrors(values, centroids);
      assert.ok(Math.abs(actual - expected) <= slack(expected), `trial ${trial}: ${actual} vs brute force ${expected} for ${values} in ${clusters}`);
    }
  });

  it('matches the quadratic programme on larger inputs', () => {
    const random = createRandom(24);
    for (let trial = 0; trial < 30; trial++) {
      const count = 50 + random.nextInt(350);
      const values = trial % 3 === 0 ? valuesWithTies(count, 5 + random.nextInt(count), random) : normalValues(count, random);
      const clusters = [2, 3, 5, 8, 13, 21][trial % 6] as number;
      const expected = quadraticProgrammeError(values, clusters);
      const actual = sumOfSquaredErrors(values, optimalKmeans1dCentroids(values, clusters));
      assert.ok(Math.abs(actual - expected) <= slack(expected), `trial ${trial}, ${count} values in ${clusters}: ${actual} vs ${expected}`);
    }
  });

  it('keeps its precision beside far outliers', () => {
    // Three values near 1e7 make every prefix sum of squares huge, so costs that were not
    // squared errors themselves would round away the differences between clusterings.
    const random = createRandom(29);
    for (const clusters of [8, 16]) {
      const values = normalValues(300, random);
      for (let i = 0; i < 3; i++) values[i] = 1e7 * (1 + i * 1e-3);
      const expected = quadraticProgrammeError(values, clusters);
      const actual = sumOfSquaredErrors(values, optimalKmeans1dCentroids(values, clusters));
      assert.ok(Math.abs(actual - expected) <= 1e-6 * expected, `${clusters} clusters: ${actual} vs ${expected}`);
    }
  });

  it('is never worse than the other initialisations', () => {
    const random = createRandom(22);
    for (let trial = 0; trial < 40; trial++) {
      const values = trial % 2 === 0 ? normalValues(2000, random) : valuesWithTies(500, 40, random);
      const clusters = [2, 3, 8, 16, 33][trial % 5] as number;
      const optimal = sumOfSquaredErrors(values, initialiseCentroids(values, clusters, 'kmeans_1d_optimal', 0));
      for (const method of OTHER_METHODS) {
        const other = sumOfSquaredErrors(values, initialiseCentroids(values, clusters, method, trial));
        assert.ok(optimal <= other + slack(other), `trial ${trial}, ${method}: optimal ${optimal} > ${other}`);
      }
    }
  });

  it('returns each distinct value when clusters outnumber them', () => {
    const centroids = initialiseCentroids(new Float32Array([3, 1, 3, 2, 1]), 5, 'kmeans_1d_optimal', 0);
    assert.deepEqual([...centroids], [1, 2, 3, 3, 3]);
  });

  it('puts well-separated groups at their means', () => {
    const values = new Float32Array([-10, -10.5, -9.5, 0, 0.25, -0.25, 7, 7]);
    assert.deepEqual([...optimalKmeans1dCentroids(values, 3)], [-10, 0, 7]);
  });

  it('returns sorted centroids for larger inputs', () => {
    const values = normalValues(20_000, createRandom(23));
    const centroids = initialiseCentroids(values, 64, 'kmeans_1d_optimal', 0);
    assert.equal(centroids.length, 64);
    assert.ok(isSortedAscending(centroids));
    assert.equal(new Set(centroids).size, 64);
  });
});

describe('k-means initialisation', () => {
  it('never has more error than its seeding', () => {
    const random = createRandom(31);
    for (let trial = 0; trial < 60; trial++) {
      const values = trial % 3 === 0 ? valuesWithTies(300, 25, random) : normalValues(1 + random.nextInt(3000), random);
      const clusters = 1 + random.nextInt(40);
      const seeding = sumOfSquaredErrors(values, initialiseCentroids(values, clusters, 'kmeans_plus_plus', trial));
      const kmeans = sumOfSquaredErrors(values, initialiseCentroids(values, clusters, 'kmeans', trial));
      assert.ok(kmeans <= seeding, `trial ${trial}: k-means ${kmeans} > seeding ${seeding}`);
    }
  });

  it('improves on its seeding for normal values', () => {
    const values = normalValues(5000, createRandom(32));
    const seeding = sumOfSquaredErrors(values, initialiseCentroids(values, 16, 'kmeans_plus_plus', 1));
    const kmeans = sumOfSquaredErrors(values, initialiseCentroids(values, 16, 'kmeans', 1));
    assert.ok(kmeans < seeding, `k-means ${kmeans} vs seeding ${seeding}`);
  });

  it('repeats for the same seed', () => {
    const values = normalValues(4000, createRandom(33));
    assert.deepEqual(initialiseCentroids(values, 16, 'kmeans', 7), initialiseCentroids(values, 16, 'kmeans', 7));
  });

  it('differs between seeds', () => {
    const values = valuesWithTies(4000, 300, createRandom(34));
    assert.notDeepEqual(initialiseCentroids(values, 16, 'kmeans', 7), initialiseCentroids(values, 16, 'kmeans', 8));
  });

  it('reaches a fixed point of Lloyd iterations', () => {
    // At a fixed point each centroid is the float32 mean of the values nearest to it.
    const values = normalValues(3000, createRandom(35));
    const centroids = initialiseCentroids(values, 8, 'kmeans', 2);
    assert.ok(MAX_LLOYD_ITERATIONS >= 100);
    for (let k = 0; k < centroids.length; k++) {
      const low = k === 0 ? -Infinity : ((centroids[k - 1] as number) + (centroids[k] as number)) / 2;
      const high = k === centroids.length - 1 ? Infinity : ((centroids[k] as number) + (centroids[k + 1] as number)) / 2;
      const members = values.filter((value) => value > low && value <= high);
      const mean = members.reduce((sum, value) => sum + value, 0) / members.length;
      assert.ok(Math.abs((centroids[k] as number) - mean) < 1e-6, `centroid ${k} is ${centroids[k]}, its mean ${mean}`);
    }
  });

  it('keeps duplicates when clusters outnumber distinct values', () => {
    const values = new Float32Array([1, 1, 2, 2, 3, 3, 3]);
    const centroids = initialiseCentroids(values, 5, 'kmeans', 0);
    assert.deepEqual([...new Set(centroids)], [1, 2, 3]);
    assert.equal(centroids.length, 5);
  });
});

describe('new initialisations on degenerate input', () => {
  for (const method of ['kmeans', 'kmeans_1d_optimal'] as const) {
    it(`${method} repeats the value of a constant tensor`, () => {
      assert.deepEqual([...initialiseCentroids(new Float32Array(10).fill(0.75), 4, method, 0)], [0.75, 0.75, 0.75, 0.75]);
    });

    it(`${method} rejects NaN and infinite values`, () => {
      assert.throws(() => initialiseCentroids(new Float32Array([1, NaN]), 2, method, 0), /flat index 1 is NaN/);
      assert.throws(() => initialiseCentroids(new Float32Array([-Infinity, 1]), 2, method, 0), /flat index 0 is -Infinity/);
    });

    it(`${method} rejects an empty tensor`, () => {
      assert.throws(() => initialiseCentroids(new Float32Array(0), 2, method, 0), RangeError);
    });
  }

  it('gives the same centroids on worker threads', () => {
    const random = createRandom(25);
    for (let trial = 0; trial < 12; trial++) {
      const count = 2000 + random.nextInt(30_000);
      const values = trial % 3 === 0 ? valuesWithTies(count, 50 + random.nextInt(count), random) : normalValues(count, random);
      const clusters = [2, 3, 8, 16, 33, 256][trial % 6] as number;
      const serial = optimalKmeans1dCentroids(values, clusters, { threads: 1 });
      const threads = 2 + (trial % 2);
      // WHOLE_SEGMENT_WORK is 2^22, so inputs this small go to one worker whole unless
      // the clusters are many, and the larger trials split across workers first.
      const parallel = optimalKmeans1dCentroids(values, clusters, { threads, minParallelWork: 0 });
      assert.deepEqual([...parallel], [...serial], `trial ${trial}: ${count} values in ${clusters} on ${threads} threads`);
    }
  });

  it('splits across workers on large inputs', () => {
    const values = normalValues(300_000, createRandom(26));
    const serial = optimalKmeans1dCentroids(values, 40, { threads: 1 });
    const parallel = optimalKmeans1dCentroids(values, 40, { threads: 2, minParallelWork: 0 });
    assert.deepEqual([...parallel], [...serial]);
  });

  it('keeps the cost rows of concurrent segments apart', () => {
    // With no segment solved whole, every level splits by cost rows, and the halves of one
    // segment run beside the other segments of its level, all in one pair of shared rows.
    const random = createRandom(27);
    for (const [count, clusters] of [
      [5_000, 37],
      [3_001, 64],
      [700, 5],
    ] as const) {
      const values = normalValues(count, random);
      const serial = optimalKmeans1dCentroids(values, clusters, { threads: 1 });
      const parallel = optimalKmeans1dCentroids(values, clusters, { threads: 3, minParallelWork: 0, wholeSegmentWork: 0 });
      assert.deepEqual([...parallel], [...serial], `${count} values in ${clusters} clusters`);
    }
  });

  it('rejects a tensor too large for the free memory', () => {
    const values = normalValues(1000, createRandom(28));
    assert.throws(
      () => optimalKmeans1dCentroids(values, 4, { freeBytes: 50_000 }),
      (error: unknown) =>
        error instanceof InsufficientMemoryError &&
        /^kmeans_1d_optimal needs about 78\.2 KiB for the 1000 distinct values of this tensor, but only 48\.8 KiB are available to it\. Use cluster_centroids_init 'kmeans'/.test(error.message) &&
        error.neededBytes === 80 * 1001,
    );
    assert.equal(optimalKmeans1dCentroids(values, 4, { freeBytes: 80 * 1001 }).length, 4);
  });

  it('states memory in a readable unit', () => {
    const cases: Array<{ bytes: number; text: string }> = [
      { bytes: 720, text: '720 bytes' },
      { bytes: 80 * 1001, text: '78.2 KiB' },
      { bytes: 5 * 2 ** 20, text: '5.0 MiB' },
      { bytes: 3 * 2 ** 30, text: '3.0 GiB' },
    ];
    for (const { bytes, text } of cases) {
      const message = new InsufficientMemoryError(bytes, 100, 1000).message;
      assert.ok(message.startsWith(`kmeans_1d_optimal needs about ${text} for the 1000 distinct values`), message);
      assert.match(message, /but only 100 bytes are available to it/);
    }
  });

  it('rejects an invalid CENTROID_KMEANS_MAX_BYTES', (t) => {
    setEnvironmentForTest(t, 'CENTROID_KMEANS_MAX_BYTES', '2GB');
    assert.throws(() => optimalKmeans1dCentroids(new Float32Array([1, 2, 3, 4]), 2), /CENTROID_KMEANS_MAX_BYTES must be a positive integer number of bytes, got "2GB"/);
  });

  it('starts no threads for one cluster', () => {
    assert.equal(planThreads(100_000_000, 1, { threads: 4, freeBytes: 2 ** 50 }), 1);
    assert.equal(planThreads(100_000_000, 2, { threads: 4, freeBytes: 2 ** 50 }), 4);
  });

  it('rejects an invalid CENTROID_KMEANS_THREADS', (t) => {
    setEnvironmentForTest(t, 'CENTROID_KMEANS_THREADS', 'many');
    assert.throws(() => optimalKmeans1dCentroids(new Float32Array([1, 2, 3, 4]), 2), /CENTROID_KMEANS_THREADS must be a positive integer, got "many"/);
  });
});
