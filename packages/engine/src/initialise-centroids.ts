// Centroid initialisation for one weight tensor. It follows the four methods of the
// TensorFlow Model Optimization Toolkit (TFMOT, `clustering_centroids.py`), except that
// DENSITY_BASED uses exact quantiles where TFMOT evaluates a 30-point CDF grid. Two more
// methods are not in TFMOT: k-means run to convergence and the exact 1-D k-means.
import type { CentroidInitialisation } from '@centroid/contracts';
import { optimalKmeans1dCentroids } from './kmeans-1d-optimal.js';
import { kmeansCentroids } from './kmeans-lloyd.js';
import { kmeansPlusPlusCentroids } from './kmeans-plus-plus.js';
import { createRandom } from './random.js';

/**
 * Computes `numberOfClusters` initial centroids for `values`, sorted ascending.
 *
 * - `linear`: evenly spaced from min to max, both included, computed in float64 and
 *   rounded once to float32.
 * - `random`: uniform in [min, max], drawn from the seeded generator.
 * - `density_based`: exact quantiles of the empirical CDF at the cumulative
 *   probabilities p_k = 0.01 + 0.99·k/(N−1), k = 0…N−1 (p = 0.01 when N = 1). The
 *   quantile is the inverse of the empirical CDF, Q(p) = the ⌈p·n⌉-th smallest value
 *   (Hyndman and Fan type 1), so every centroid is one of the values.
 * - `kmeans_plus_plus`: greedy k-means++ seeding as TensorFlow's
 *   `KmeansPlusPlusInitialization` kernel does it, with no Lloyd iterations after it.
 * - `kmeans`: the `kmeans_plus_plus` seeding, then Lloyd iterations until the
 *   assignment stops changing or 1000 iterations pass. Deterministic for a seed.
 * - `kmeans_1d_optimal`: the exact one-dimensional k-means, the clustering with the
 *   lowest possible squared error, by dynamic programming. Ignores the seed.
 *
 * Degenerate inputs give duplicate centroids instead of an error: when all values are
 * equal every centroid is that value, and every method except `linear` and `random`
 * repeats some values on a tensor with fewer distinct values than clusters
 * (`kmeans_1d_optimal` returns each distinct value and repeats the largest). Assignment
 * sends each value to the first of a run of equal centroids, so the repeats stay empty.
 *
 * Works in O(n log n) time. The memory is at most a sorted copy of the values: 4 bytes
 * per value, 4.3 for `kmeans_plus_plus` and `kmeans`. `kmeans_1d_optimal` instead takes
 * O(n log n + N·m) time for m distinct values, and 80 bytes per distinct value on one
 * thread (kmeans-1d-optimal.ts gives the figures for threads). Raises RangeError when
 * `values` is empty or contains NaN or ±Infinity.
 */
export function initialiseCentroids(
  values: Float32Array,
  numberOfClusters: number,
  method: CentroidInitialisation,
  seed: number,
): Float32Array {
  if (!Number.isInteger(numberOfClusters) || numberOfClusters < 1) {
    throw new RangeError(`numberOfClusters must be a positive integer, got ${numberOfClusters}`);
  }
  if (values.length === 0) {
    throw new RangeError('cannot initialise centroids for an empty tensor');
  }
  const { min, max } = finiteRange(values);

  switch (method) {
    case 'linear':
      return linearCentroids(min, max, numberOfClusters);
    case 'random':
      return randomCentroids(min, max, numberOfClusters, seed);
    case 'density_based':
      return densityBasedCentroids(values, numberOfClusters);
    case 'kmeans_plus_plus':
      return kmeansPlusPlusCentroids(values, numberOfClusters, createRandom(seed));
    case 'kmeans':
      return kmeansCentroids(values, numberOfClusters, createRandom(seed));
    case 'kmeans_1d_optimal':
      return optimalKmeans1dCentroids(values, numberOfClusters);
    default:
      throw new RangeError(`unknown centroid initialisation '${String(method)}'`);
  }
}

function finiteRange(values: Float32Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as number;
    if (!Number.isFinite(value)) {
      throw new RangeError(`value at flat index ${i} is ${value}, but centroids need finite values`);
    }
    if (value < min) min = value;
    if (value > max) max = value;
  }
  return { min, max };
}

function linearCentroids(min: number, max: number, count: number): Float32Array {
  const centroids = new Float32Array(count);
  if (count === 1) {
    centroids[0] = min;
    return centroids;
  }
  const step = (max - min) / (count - 1);
  for (let k = 0; k < count - 1; k++) {
    centroids[k] = min + k * step;
  }
  // Set the last one exactly, because min + (N−1)·step can round past max.
  centroids[count - 1] = max;
  return centroids;
}

function randomCentroids(min: number, max: number, count: number, seed: number): Float32Array {
  const random = createRandom(seed);
  const centroids = new Float32Array(count);
  for (let k = 0; k < count; k++) {
    // Rounding to float32 can reach max but never pass it.
    centroids[k] = min + random.nextFloat() * (max - min);
  }
  return centroids.sort();
}

function densityBasedCentroids(values: Float32Array, count: number): Float32Array {
  const sorted = Float32Array.from(values).sort();
  const n = sorted.length;
  const centroids = new Float32Array(count);

  for (let k = 0; k < count; k++) {
    // p_k = (N−1 + 99k) / (100(N−1)) exactly, so the rank ⌈p_k·n⌉ is computed in
    // integers and a probability such as 0.5 never rounds up to the next rank.
    const numerator = count === 1 ? n : n * (count - 1 + 99 * k);
    const denominator = count === 1 ? 100 : 100 * (count - 1);
    const rank = Math.min(n, Math.max(1, ceilDivide(numerator, denominator)));
    centroids[k] = sorted[rank - 1] as number;
  }
  return centroids;
}

/** Returns ⌈a / b⌉ for non-negative integers below 2^53, exactly. */
function ceilDivide(a: number, b: number): number {
  let quotient = Math.floor(a / b);
  while (quotient * b < a) quotient++;
  while (quotient > 0 && (quotient - 1) * b >= a) quotient--;
  return quotient;
}
