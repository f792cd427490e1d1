// Squared errors of a clustering against the weights it replaces, for the per-layer
// report and for comparing initialisations. Sums are accumulated in float64.

/**
 * Returns Σ min_k (v − c_k)² over `values`: the squared error of assigning every value
 * to its nearest centroid. `sortedCentroids` must be sorted ascending. A value halfway
 * between two centroids costs the same either way, so the tie rule of
 * `assignClusters` does not change the result. Runs in O(n log N) time without
 * allocating per value. Raises RangeError for empty or unsorted centroids.
 */
export function sumOfSquaredErrors(values: Float32Array, sortedCentroids: Float32Array): number {
  const count = sortedCentroids.length;
  if (count === 0) {
    throw new RangeError('cannot measure the squared error against an empty list of centroids');
  }
  const midpoints = new Float64Array(Math.max(0, count - 1));
  for (let k = 0; k < count - 1; k++) {
    const left = sortedCentroids[k] as number;
    const right = sortedCentroids[k + 1] as number;
    if (!(right >= left)) {
      throw new RangeError(`centroids must be sorted ascending and not NaN, but centroid ${k + 1} is ${right} after ${left}`);
    }
    midpoints[k] = (left + right) / 2;
  }

  let total = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as number;
    let low = 0;
    let high = count - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((midpoints[middle] as number) < value) low = middle + 1;
      else high = middle;
    }
    const difference = value - (sortedCentroids[low] as number);
    total += difference * difference;
  }
  return total;
}

/** Returns Σ (a_i − b_i)², such as the error of shipped values against the original weights. */
export function sumOfSquaredDifferences(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) {
    throw new RangeError(`cannot compare ${a.length} values with ${b.length}`);
  }
  let total = 0;
  for (let i = 0; i < a.length; i++) {
    const difference = (a[i] as number) - (b[i] as number);
    total += difference * difference;
  }
  return total;
}
