// Exact one-dimensional k-means: the N centroids with the lowest possible sum of squared
// errors. In one dimension every optimal cluster is a run of the sorted values, so the
// optimum is a dynamic programme over the m sorted distinct values, weighted by their
// counts:
//
//   cost_c(p) = min over q < p of cost_{c−1}(q) + SSE(values q … p−1),
//
// the lowest error of the first p distinct values in c clusters. SSE of a run comes
// from weighted prefix sums in O(1). The squared error satisfies the quadrangle
// inequality, so the matrix of candidates q for each p is totally monotone, and the
// SMAWK algorithm finds every p's best q of a layer in O(m) evaluations instead of O(m²).
//
// A table of every layer's best q would need N·m integers (4 GB for N = 256 and four
// million distinct values). Instead the clusters are recovered the way Hirschberg's
// algorithm recovers an alignment: split the clusters in two halves, run the programme
// forward for the first half and backward for the second, cut where the two costs sum
// to the optimum, and recurse on both sides. That doubles the work to about 2·N·m
// SMAWK steps but needs only O(m) memory: about 80 bytes per distinct value.
//
// Divide and conquer over each layer (O(m log m), no buffers) needs 32 fewer bytes per
// distinct value but ran slower: on 300,000 normal weights at N = 64 it took 19.3 s and
// 26.3 s against 12.6 s and 15.2 s for SMAWK, alternating in one process on a loaded
// 2-core AMD EPYC.

/**
 * Returns the `count` centroids of an optimal k-means clustering of `values`, sorted
 * ascending. Each centroid is the float32 nearest to its cluster's mean, so the squared
 * error exceeds the exact optimum only by that rounding.
 *
 * With fewer distinct values than clusters, every distinct value is a centroid and the
 * largest one is repeated to fill the rest. Those duplicates receive no values in
 * assignment. Runs in O(n log n + N·m) time. Needs a sorted copy of the values (4 bytes
 * per value) while the prefix sums are built, then about 80 bytes per distinct value:
 * 24 of prefix sums, up to 24 of cost rows and 32 of SMAWK buffers.
 *
 * NOTE: the N·m term dominates for large tensors. N = 256 on one million weights took
 * 405 s on a loaded 2-core machine (bench/results/engine.md), so large N on tensors of
 * tens of millions of weights takes hours.
 */
export function optimalKmeans1dCentroids(values: Float32Array, count: number): Float32Array {
  const forward = RunErrors.fromValues(values);
  const m = forward.size;
  const centroids = new Float32Array(count);
  if (m <= count) {
    for (let k = 0; k < m; k++) centroids[k] = forward.mean(k, k + 1);
    centroids.fill(centroids[m - 1] as number, m);
    return centroids;
  }

  const backward = new ReversedRunErrors(forward);
  const scratch = new SmawkScratch(m);
  const starts = [0];
  splitOptimally(forward, backward, scratch, 0, m, count, starts);
  starts.push(m);

  for (let k = 0; k < count; k++) {
    centroids[k] = forward.mean(starts[k] as number, starts[k + 1] as number);
  }
  return centroids;
}

/** The squared error of runs of the sorted distinct values, in O(1) per run. */
interface RunErrorSource {
  readonly size: number;
  /** Returns the squared error of the distinct values [from, to) about their weighted mean. */
  runError(from: number, to: number): number;
}

/**
 * Appends to `starts` the first distinct-value index of clusters 2 … `clusters` of an
 * optimal clustering of the distinct values [from, to) into `clusters` runs, in order.
 * Needs `to − from ≥ clusters`.
 */
function splitOptimally(
  forward: RunErrorSource,
  backward: RunErrorSource,
  scratch: SmawkScratch,
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
  const leftCosts = prefixCosts(forward, scratch, from, length, leftClusters);
  const rightCosts = prefixCosts(backward, scratch, backward.size - to, length, rightClusters);

  let bestCut = leftClusters;
  let bestCost = Infinity;
  for (let p = leftClusters; p <= length - rightClusters; p++) {
    const cost = (leftCosts[p] as number) + (rightCosts[length - p] as number);
    if (cost < bestCost) {
      bestCost = cost;
      bestCut = p;
    }
  }

  splitOptimally(forward, backward, scratch, from, from + bestCut, leftClusters, starts);
  starts.push(from + bestCut);
  splitOptimally(forward, backward, scratch, from + bestCut, to, rightClusters, starts);
}

/**
 * Returns costs[p] = the lowest squared error of the distinct values
 * [offset, offset + p) in `clusters` non-empty runs, for p = 0 … length (Infinity where
 * p < clusters). Fills one layer per cluster count, keeping two rows.
 */
function prefixCosts(errors: RunErrorSource, scratch: SmawkScratch, offset: number, length: number, clusters: number): Float64Array {
  let previous = new Float64Array(length + 1);
  previous[0] = Infinity;
  for (let p = 1; p <= length; p++) previous[p] = errors.runError(offset, offset + p);

  let next = new Float64Array(length + 1);
  for (let layer = 2; layer <= clusters; layer++) {
    next.fill(Infinity, 0, layer);
    fillLayer(errors, scratch, offset, previous, next, layer, length);
    const swap = previous;
    previous = next;
    next = swap;
  }
  return previous;
}

/**
 * Sets next[p] = min over q in [layer − 1, p − 1] of previous[q] + the error of the run
 * [q, p), for p in [layer, length], with SMAWK. Rows are p and columns q. An entry with
 * q ≥ p is +Infinity, which keeps the matrix totally monotone. Ties go to the smallest
 * q, as the bounds on either side of a row rely on.
 */
function fillLayer(
  errors: RunErrorSource,
  scratch: SmawkScratch,
  offset: number,
  previous: Float64Array,
  next: Float64Array,
  layer: number,
  length: number,
): void {
  const matrix = new LayerMatrix(errors, offset, previous);
  const columnCount = length - layer + 1;
  const columns = scratch.allocate(columnCount);
  for (let i = 0; i < columnCount; i++) columns[i] = layer - 1 + i;
  smawk(matrix, scratch, next, layer, 1, length - layer + 1, columns);
  scratch.release(columnCount);
}

/**
 * The matrix of one layer: entry (p, q) = previous[q] + the error of the run [q, p).
 * It reads the prefix sums directly, in either direction, so that SMAWK's calls stay on
 * one class and the engine can inline them.
 */
class LayerMatrix {
  private readonly sums: Float64Array;
  private readonly reversed: boolean;
  private readonly size: number;

  constructor(
    errors: RunErrorSource,
    private readonly offset: number,
    private readonly previous: Float64Array,
  ) {
    const ascending = errors instanceof ReversedRunErrors ? errors.ascending : (errors as RunErrors);
    this.sums = ascending.sums;
    this.reversed = errors instanceof ReversedRunErrors;
    this.size = ascending.size;
  }

  entry(p: number, q: number): number {
    if (q >= p) return Infinity;
    let from = this.offset + q;
    let to = this.offset + p;
    if (this.reversed) {
      const ascendingFrom = this.size - to;
      to = this.size - from;
      from = ascendingFrom;
    }
    const { sums } = this;
    const toBase = 3 * to;
    const fromBase = 3 * from;
    const weight = (sums[toBase] as number) - (sums[fromBase] as number);
    const sum = (sums[toBase + 1] as number) - (sums[fromBase + 1] as number);
    const sumOfSquares = (sums[toBase + 2] as number) - (sums[fromBase + 2] as number);
    return (this.previous[q] as number) + Math.max(0, sumOfSquares - (sum * sum) / weight);
  }
}

/**
 * Finds the leftmost minimum of each row of a totally monotone matrix, for the rows
 * rowStart, rowStart + rowStride, … (rowCount of them) and the given increasing
 * `columns`. Writes each row's minimum to `minima[row]` and its column to
 * `scratch.argmin[row]`. REDUCE drops columns that contain no row's minimum, leaving at
 * most one per row. The odd rows recurse, and then each even row is searched between
 * the minima of its odd neighbours. Each call level evaluates O(rows + columns) entries.
 */
function smawk(
  matrix: LayerMatrix,
  scratch: SmawkScratch,
  minima: Float64Array,
  rowStart: number,
  rowStride: number,
  rowCount: number,
  columns: Int32Array,
): void {
  if (rowCount === 0) return;

  // REDUCE: a stack of the surviving columns. Column stack[j] is compared on row j, and
  // stackValues[j] caches its entry there.
  const capacity = Math.min(columns.length, rowCount);
  const stack = scratch.allocate(capacity);
  const stackValues = scratch.allocateValues(capacity);
  let top = 0;
  for (let i = 0; i < columns.length; i++) {
    const column = columns[i] as number;
    while (top > 0) {
      const row = rowStart + (top - 1) * rowStride;
      if ((stackValues[top - 1] as number) <= matrix.entry(row, column)) break;
      top--;
    }
    if (top < rowCount) {
      stack[top] = column;
      stackValues[top] = matrix.entry(rowStart + top * rowStride, column);
      top++;
    }
  }
  const reduced = stack.subarray(0, top);

  smawk(matrix, scratch, minima, rowStart + rowStride, rowStride * 2, rowCount >> 1, reduced);

  // INTERPOLATE: even row r's minimum lies between the minima of rows r − 1 and r + 1.
  const { argmin } = scratch;
  let c = 0;
  for (let r = 0; r < rowCount; r += 2) {
    const row = rowStart + r * rowStride;
    const lastColumn = r === rowCount - 1 ? (reduced[top - 1] as number) : (argmin[row + rowStride] as number);
    let bestColumn = reduced[c] as number;
    let best = matrix.entry(row, bestColumn);
    while ((reduced[c] as number) !== lastColumn) {
      c++;
      const value = matrix.entry(row, reduced[c] as number);
      if (value < best) {
        best = value;
        bestColumn = reduced[c] as number;
      }
    }
    argmin[row] = bestColumn;
    minima[row] = best;
  }
  scratch.release(capacity);
  scratch.releaseValues(capacity);
}

/**
 * Buffers for SMAWK: the column stacks of all recursion levels with their cached
 * entries, taken and returned last in, first out, and each row's best column. The
 * stacks of one call chain add up to at most 2·(m + 1) columns plus the first column list.
 */
class SmawkScratch {
  readonly argmin: Int32Array;
  private readonly buffer: Int32Array;
  private readonly values: Float64Array;
  private used = 0;
  private valuesUsed = 0;

  constructor(m: number) {
    this.argmin = new Int32Array(m + 1);
    this.buffer = new Int32Array(3 * (m + 1));
    this.values = new Float64Array(2 * (m + 1));
  }

  /** Returns a view of `size` cached entries, released like the column stacks. */
  allocateValues(size: number): Float64Array {
    const view = this.values.subarray(this.valuesUsed, this.valuesUsed + size);
    this.valuesUsed += size;
    return view;
  }

  releaseValues(size: number): void {
    this.valuesUsed -= size;
  }

  allocate(size: number): Int32Array {
    if (this.used + size > this.buffer.length) {
      throw new RangeError(`SMAWK scratch overflow: ${this.used} + ${size} > ${this.buffer.length}`);
    }
    const view = this.buffer.subarray(this.used, this.used + size);
    this.used += size;
    return view;
  }

  /** Returns the last `size` entries allocated. */
  release(size: number): void {
    this.used -= size;
  }
}

/**
 * Weighted prefix sums over distinct values: counts, and Σ c·(v − mean) and
 * Σ c·(v − mean)², which give the squared error of any run about its own mean in O(1).
 * Subtracting the overall mean keeps the sums small, which limits cancellation. The
 * three sums of index i are stored next to each other, at 3i, 3i + 1 and 3i + 2, so one
 * run error reads two cache lines instead of six when the arrays outgrow the caches.
 */
class RunErrors implements RunErrorSource {
  readonly size: number;
  private readonly centre: number;
  /** Count, sum and sum of squares of the distinct values [0, i), at 3i, 3i + 1 and 3i + 2. Read directly by LayerMatrix. */
  readonly sums: Float64Array;

  private constructor(size: number, centre: number) {
    this.size = size;
    this.centre = centre;
    this.sums = new Float64Array(3 * (size + 1));
  }

  /**
   * Builds the sums from a sorted copy of `values`, which is dropped afterwards, so no
   * separate arrays of distinct values and counts are kept. -0 and +0 compare equal, so
   * they form one distinct value.
   */
  static fromValues(values: Float32Array): RunErrors {
    const sorted = Float32Array.from(values).sort();
    let size = 0;
    let total = 0;
    for (let i = 0; i < sorted.length; i++) {
      if (i === 0 || sorted[i] !== sorted[i - 1]) size++;
      total += sorted[i] as number;
    }

    const errors = new RunErrors(size, total / sorted.length);
    let index = 0;
    let i = 0;
    while (i < sorted.length) {
      const value = sorted[i] as number;
      let count = 0;
      while (i < sorted.length && sorted[i] === value) {
        count++;
        i++;
      }
      const centred = value - errors.centre;
      const { sums } = errors;
      const base = 3 * index;
      sums[base + 3] = (sums[base] as number) + count;
      sums[base + 4] = (sums[base + 1] as number) + count * centred;
      sums[base + 5] = (sums[base + 2] as number) + count * centred * centred;
      index++;
    }
    return errors;
  }

  runError(from: number, to: number): number {
    const { sums } = this;
    const weight = (sums[3 * to] as number) - (sums[3 * from] as number);
    const sum = (sums[3 * to + 1] as number) - (sums[3 * from + 1] as number);
    const sumOfSquares = (sums[3 * to + 2] as number) - (sums[3 * from + 2] as number);
    return Math.max(0, sumOfSquares - (sum * sum) / weight);
  }

  /** Returns the float32 nearest to the weighted mean of the distinct values [from, to), which must not be empty. */
  mean(from: number, to: number): number {
    const { sums } = this;
    const weight = (sums[3 * to] as number) - (sums[3 * from] as number);
    const sum = (sums[3 * to + 1] as number) - (sums[3 * from + 1] as number);
    return Math.fround(this.centre + sum / weight);
  }
}

/** The distinct values in descending order, as a view of the ascending sums. */
class ReversedRunErrors implements RunErrorSource {
  readonly size: number;

  constructor(readonly ascending: RunErrors) {
    this.size = ascending.size;
  }

  runError(from: number, to: number): number {
    return this.ascending.runError(this.size - to, this.size - from);
  }
}
