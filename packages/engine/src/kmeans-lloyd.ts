// k-means for scalar weights: k-means++ seeding, then Lloyd iterations. In one dimension
// each cluster of a nearest-centroid assignment is a run of the sorted values between
// two neighbouring midpoints. So after one sort an iteration finds every run by binary
// search and every run's mean from prefix sums, in O(N log n) time, with no n×N
// distance matrix and no pass over the values.
import { kmeansPlusPlusCentroids } from './kmeans-plus-plus.js';
import type { RandomStream } from './random.js';
import { sumOfSquaredErrors } from './squared-error.js';

/** Lloyd iterations after which `kmeansCentroids` stops even if the runs still move. */
export const MAX_LLOYD_ITERATIONS = 1000;

/**
 * Returns `count` centroids from k-means++ seeding (the `kmeans_plus_plus`
 * initialisation, same random stream) followed by Lloyd iterations, sorted ascending.
 *
 * Iterations stop when an assignment repeats the previous one, which makes the
 * centroids a fixed point, or after {@link MAX_LLOYD_ITERATIONS}. Each centroid moves to
 * the float32 nearest to its run's mean. A centroid whose run is empty keeps its value,
 * so duplicate seeds (fewer distinct values than clusters) stay duplicates and empty.
 * Values exactly at a midpoint belong to the lower centroid, as in `assignClusters`.
 *
 * Lloyd iterations never raise the squared error in exact arithmetic. Rounding could
 * raise it by a few ulps, so the result is compared with the seeding by
 * {@link sumOfSquaredErrors} and the seeding is returned when it is not worse.
 * Needs about 12 bytes per value on top of the 20 of the seeding, which is freed first.
 */
export function kmeansCentroids(values: Float32Array, count: number, random: RandomStream): Float32Array {
  const seeds = kmeansPlusPlusCentroids(values, count, random);
  const runs = new SortedRuns(values);
  const n = runs.size;

  const centroids = Float32Array.from(seeds);
  const boundaries = new Int32Array(count + 1);
  const previousBoundaries = new Int32Array(count + 1).fill(-1);
  boundaries[count] = n;

  for (let iteration = 0; iteration < MAX_LLOYD_ITERATIONS; iteration++) {
    // Cluster k is the run [boundaries[k], boundaries[k + 1]) of the sorted values.
    for (let k = 1; k < count; k++) {
      const midpoint = ((centroids[k - 1] as number) + (centroids[k] as number)) / 2;
      boundaries[k] = runs.firstAbove(boundaries[k - 1] as number, midpoint);
    }
    if (boundaries.every((boundary, k) => boundary === previousBoundaries[k])) break;
    previousBoundaries.set(boundaries);

    for (let k = 0; k < count; k++) {
      const from = boundaries[k] as number;
      const to = boundaries[k + 1] as number;
      if (to > from) centroids[k] = runs.mean(from, to);
    }
    // A centroid with an empty run kept its place while its neighbours moved.
    centroids.sort();
  }

  if (centroids.every((centroid, k) => centroid === seeds[k])) return centroids;
  return sumOfSquaredErrors(values, centroids) <= sumOfSquaredErrors(values, seeds) ? centroids : seeds;
}

/** The sorted values with prefix sums of (v − mean), which give any run's mean in O(1). */
class SortedRuns {
  readonly size: number;
  private readonly sorted: Float32Array;
  private readonly centre: number;
  private readonly sum: Float64Array;

  constructor(values: Float32Array) {
    this.sorted = Float32Array.from(values).sort();
    this.size = this.sorted.length;

    let total = 0;
    for (let i = 0; i < this.size; i++) total += this.sorted[i] as number;
    this.centre = total / this.size;

    // Subtracting the mean keeps the partial sums small, which limits cancellation.
    this.sum = new Float64Array(this.size + 1);
    for (let i = 0; i < this.size; i++) {
      this.sum[i + 1] = (this.sum[i] as number) + ((this.sorted[i] as number) - this.centre);
    }
  }

  /** Returns the float32 nearest to the mean of the sorted positions [from, to), which must not be empty. */
  mean(from: number, to: number): number {
    return Math.fround(this.centre + ((this.sum[to] as number) - (this.sum[from] as number)) / (to - from));
  }

  /** Returns the first position at or after `from` whose value is greater than `threshold`, or the size. */
  firstAbove(from: number, threshold: number): number {
    let low = from;
    let high = this.size;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.sorted[middle] as number) > threshold) high = middle;
      else low = middle + 1;
    }
    return low;
  }
}
