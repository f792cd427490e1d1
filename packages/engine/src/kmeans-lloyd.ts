// k-means for scalar weights: k-means++ seeding, then Lloyd iterations. In one dimension
// each cluster of a nearest-centroid assignment is a run of the sorted values between
// two neighbouring midpoints. So after one sort an iteration finds every run by binary
// search and every run's mean from prefix sums, in O(N log n) time, with no n×N
// distance matrix and no pass over the values.
import { seedCentroids } from './kmeans-plus-plus.js';
import type { RandomStream } from './random.js';
import { SortedValues } from './sorted-values.js';
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
 * Seeding and iterations share one sorted copy of the values, about 4.3 bytes per value.
 */
export function kmeansCentroids(values: Float32Array, count: number, random: RandomStream): Float32Array {
  const runs = new SortedValues(values);
  const seeds = seedCentroids(runs, count, random);
  const n = runs.size;

  const centroids = Float32Array.from(seeds);
  const boundaries = new Int32Array(count + 1);
  const previousBoundaries = new Int32Array(count + 1).fill(-1);
  boundaries[count] = n;

  for (let iteration = 0; iteration < MAX_LLOYD_ITERATIONS; iteration++) {
    // Cluster k is the run [boundaries[k], boundaries[k + 1]) of the sorted values.
    for (let k = 1; k < count; k++) {
      const midpoint = ((centroids[k - 1] as number) + (centroids[k] as number)) / 2;
      boundaries[k] = runs.firstAbove(boundaries[k - 1] as number, n, midpoint);
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
