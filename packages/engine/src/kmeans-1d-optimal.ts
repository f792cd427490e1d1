// Exact one-dimensional k-means: the N centroids with the lowest possible sum of squared
// errors. In one dimension every optimal cluster is a run of the sorted values, so the
// optimum is a dynamic programme over the m sorted distinct values, weighted by their
// counts:
//
//   cost_c(p) = min over q < p of cost_{c−1}(q) + SSE(values q … p−1),
//
// the lowest error of the first p distinct values in c clusters. SSE of a run comes
// from weighted prefix sums in O(1). The squared error satisfies the quadrangle
// inequality, so the best q never decreases as p grows, and each layer is filled by
// divide and conquer in O(m log m) instead of O(m²).
//
// A table of every layer's best q would need N·m integers (4 GB for N = 256 and four
// million distinct values). Instead the clusters are recovered the way Hirschberg's
// algorithm recovers an alignment: split the clusters in two halves, run the programme
// forward for the first half and backward for the second, cut where the two costs sum
// to the optimum, and recurse on both sides. That doubles the work to about
// 2·N·m·log2(m) evaluations of the run error but needs only O(m) memory.

/**
 * Returns the `count` centroids of an optimal k-means clustering of `values`, sorted
 * ascending. Each centroid is the float32 nearest to its cluster's mean, so the squared
 * error exceeds the exact optimum only by that rounding.
 *
 * With fewer distinct values than clusters, every distinct value is a centroid and the
 * largest one is repeated to fill the rest. Those duplicates receive no values in
 * assignment. Runs in O(n log n + N·m·log m) time and needs about 4 bytes per value plus
 * about 100 bytes per distinct value.
 *
 * NOTE: the N·m·log m term dominates for large tensors: one million distinct values
 * took about 4 s at N = 16 and 74 to 88 s at N = 256 on one core of a shared 2-core
 * AMD EPYC machine (`pnpm bench`). SMAWK row minima would remove the log m factor, but
 * they are not implemented.
 */
export function optimalKmeans1dCentroids(values: Float32Array, count: number): Float32Array {
  const { distinct, counts } = countDistinctValues(values);
  const m = distinct.length;
  const centroids = new Float32Array(count);
  if (m <= count) {
    centroids.set(distinct);
    centroids.fill(distinct[m - 1] as number, m);
    return centroids;
  }

  const forward = new RunErrors(distinct, counts);
  const backward = new RunErrors(distinct.slice().reverse(), counts.slice().reverse());
  const starts = [0];
  splitOptimally(forward, backward, 0, m, count, starts);
  starts.push(m);

  for (let k = 0; k < count; k++) {
    centroids[k] = forward.mean(starts[k] as number, starts[k + 1] as number);
  }
  return centroids;
}

/** Sorts a copy of `values` and returns its distinct values, ascending, with their counts. */
function countDistinctValues(values: Float32Array): { distinct: Float32Array; counts: Float64Array } {
  const sorted = Float32Array.from(values).sort();
  let m = 0;
  for (let i = 0; i < sorted.length; i++) {
    // -0 and +0 compare equal, so they form one value here.
    if (i === 0 || sorted[i] !== sorted[i - 1]) m++;
  }

  const distinct = new Float32Array(m);
  const counts = new Float64Array(m);
  let index = -1;
  for (let i = 0; i < sorted.length; i++) {
    if (i === 0 || sorted[i] !== sorted[i - 1]) {
      index++;
      distinct[index] = sorted[i] as number;
    }
    counts[index] = (counts[index] as number) + 1;
  }
  return { distinct, counts };
}

/**
 * Appends to `starts` the first distinct-value index of clusters 2 … `clusters` of an
 * optimal clustering of the distinct values [from, to) into `clusters` runs, in order.
 * Needs `to − from ≥ clusters`.
 */
function splitOptimally(
  forward: RunErrors,
  backward: RunErrors,
  from: number,
  to: number,
  clusters: number,
  starts: number[],
): void {
  const length = to - from;
  if (clusters === 1) return;
  if (length === clusters) {
    for (let start = from + 1; start < to; start++) starts.push(start);
    return;
  }

  const leftClusters = clusters >> 1;
  const rightClusters = clusters - leftClusters;
  // leftCosts[p]: the first p values of the range in leftClusters runs.
  // rightCosts[p]: the last p values of the range in rightClusters runs.
  const leftCosts = prefixCosts(forward, from, length, leftClusters);
  const rightCosts = prefixCosts(backward, backward.size - to, length, rightClusters);

  let bestCut = leftClusters;
  let bestCost = Infinity;
  for (let p = leftClusters; p <= length - rightClusters; p++) {
    const cost = (leftCosts[p] as number) + (rightCosts[length - p] as number);
    if (cost < bestCost) {
      bestCost = cost;
      bestCut = p;
    }
  }

  splitOptimally(forward, backward, from, from + bestCut, leftClusters, starts);
  starts.push(from + bestCut);
  splitOptimally(forward, backward, from + bestCut, to, rightClusters, starts);
}

/**
 * Returns costs[p] = the lowest squared error of the distinct values
 * [offset, offset + p) in `clusters` non-empty runs, for p = 0 … length (Infinity where
 * p < clusters). Fills one layer per cluster count, keeping two rows.
 */
function prefixCosts(errors: RunErrors, offset: number, length: number, clusters: number): Float64Array {
  let previous = new Float64Array(length + 1);
  previous[0] = Infinity;
  for (let p = 1; p <= length; p++) previous[p] = errors.runError(offset, offset + p);

  let next = new Float64Array(length + 1);
  for (let layer = 2; layer <= clusters; layer++) {
    next.fill(Infinity, 0, layer);
    fillLayer(errors, offset, previous, next, layer, length, layer - 1, length - 1);
    const swap = previous;
    previous = next;
    next = swap;
  }
  return previous;
}

/**
 * Sets next[p] = min over q in [firstQ, min(lastQ, p − 1)] of previous[q] + the error of
 * the run [q, p), for p in [firstP, lastP]. The best q is monotone in p, so the middle
 * p's best q bounds the search on either side of it (the earliest best q is kept, which
 * is the one the bound holds for).
 */
function fillLayer(
  errors: RunErrors,
  offset: number,
  previous: Float64Array,
  next: Float64Array,
  firstP: number,
  lastP: number,
  firstQ: number,
  lastQ: number,
): void {
  if (firstP > lastP) return;
  const p = (firstP + lastP) >>> 1;
  const end = offset + p;
  const lastCandidate = Math.min(lastQ, p - 1);

  let best = Infinity;
  let bestQ = firstQ;
  for (let q = firstQ; q <= lastCandidate; q++) {
    const cost = (previous[q] as number) + errors.runError(offset + q, end);
    if (cost < best) {
      best = cost;
      bestQ = q;
    }
  }
  next[p] = best;

  fillLayer(errors, offset, previous, next, firstP, p - 1, firstQ, bestQ);
  fillLayer(errors, offset, previous, next, p + 1, lastP, bestQ, lastQ);
}

/**
 * Weighted prefix sums over distinct values: counts, and Σ c·(v − mean) and
 * Σ c·(v − mean)², which give the squared error of any run about its own mean in O(1).
 * Subtracting the overall mean keeps the sums small, which limits cancellation.
 */
class RunErrors {
  readonly size: number;
  private readonly centre: number;
  private readonly weight: Float64Array;
  private readonly sum: Float64Array;
  private readonly sumOfSquares: Float64Array;

  constructor(distinct: Float32Array, counts: Float64Array) {
    this.size = distinct.length;
    let total = 0;
    let totalCount = 0;
    for (let i = 0; i < this.size; i++) {
      total += (counts[i] as number) * (distinct[i] as number);
      totalCount += counts[i] as number;
    }
    this.centre = total / totalCount;

    this.weight = new Float64Array(this.size + 1);
    this.sum = new Float64Array(this.size + 1);
    this.sumOfSquares = new Float64Array(this.size + 1);
    for (let i = 0; i < this.size; i++) {
      const count = counts[i] as number;
      const centred = (distinct[i] as number) - this.centre;
      this.weight[i + 1] = (this.weight[i] as number) + count;
      this.sum[i + 1] = (this.sum[i] as number) + count * centred;
      this.sumOfSquares[i + 1] = (this.sumOfSquares[i] as number) + count * centred * centred;
    }
  }

  /** Returns the squared error of the distinct values [from, to) about their weighted mean. */
  runError(from: number, to: number): number {
    const weight = (this.weight[to] as number) - (this.weight[from] as number);
    const sum = (this.sum[to] as number) - (this.sum[from] as number);
    const sumOfSquares = (this.sumOfSquares[to] as number) - (this.sumOfSquares[from] as number);
    return Math.max(0, sumOfSquares - (sum * sum) / weight);
  }

  /** Returns the float32 nearest to the weighted mean of the distinct values [from, to), which must not be empty. */
  mean(from: number, to: number): number {
    const weight = (this.weight[to] as number) - (this.weight[from] as number);
    const sum = (this.sum[to] as number) - (this.sum[from] as number);
    return Math.fround(this.centre + sum / weight);
  }
}
