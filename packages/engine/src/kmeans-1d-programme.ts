// The dynamic programme of exact one-dimensional k-means over sorted distinct values:
//
//   cost_c(p) = min over q < p of cost_{c−1}(q) + SSE(values q … p−1),
//
// the lowest error of the first p distinct values in c clusters. SSE of a run comes
// from weighted prefix sums in O(1). The squared error satisfies the quadrangle
// inequality, so the matrix of candidates q for each p is totally monotone, and the
// SMAWK algorithm finds every p's best q of a layer in O(m) evaluations instead of O(m²).
//
// Dropping the prefix sum of squares would save 8 bytes per distinct value: Σ c·x² adds
// to the same total for every clustering, so scoring runs by −(Σ c·x)² / Σ c alone has
// the same optimum in exact arithmetic. In floating point it does not: every prefix cost
// is then close to minus the prefix's squared distance from the mean, and a few far
// outliers round away the differences between clusterings. With 3 of 5,000 normal values
// moved to 1e7, N = 32 came out 0.13 % above the optimum. Costs that are squared errors
// stay small, so the sums keep the squares.
//
// A table of every layer's best q would need N·m integers (4 GB for N = 256 and four
// million distinct values). Instead the clusters are recovered the way Hirschberg's
// algorithm recovers an alignment. Split the clusters in two halves, and run the programme
// forward for the first half and backward for the second. Cut where the two costs sum to
// the optimum, and recurse on both sides. That doubles the work to about 2·N·m
// SMAWK steps but needs only O(m) memory.
//
// Divide and conquer over each layer (O(m log m), no buffers) needs 32 fewer bytes per
// distinct value but ran slower: on 300,000 normal weights at N = 64 it took 19.3 s and
// 26.3 s against 12.6 s and 15.2 s for SMAWK, alternating in one process on a loaded
// 2-core AMD EPYC.
//
// This module imports nothing and its functions and classes refer only to each other:
// kmeans-1d-parallel.ts sends their source text to worker threads.

/**
 * Weighted prefix sums of the sorted distinct values, centred on the overall mean:
 * count, sum and sum of squares of the distinct values [0, i) at 3i, 3i + 1 and 3i + 2.
 * The three sums of one index sit together, so one run error reads two cache lines.
 */
export interface RunSums {
  readonly sums: Float64Array;
  /** The number of distinct values, m. */
  readonly size: number;
}

/**
 * Returns the squared error of the distinct values [from, to) about their weighted mean.
 * With `reversed`, indices count from the largest value down.
 */
export function runError(run: RunSums, reversed: boolean, from: number, to: number): number {
  let start = from;
  let end = to;
  if (reversed) {
    start = run.size - to;
    end = run.size - from;
  }
  const { sums } = run;
  const weight = (sums[3 * end] as number) - (sums[3 * start] as number);
  const sum = (sums[3 * end + 1] as number) - (sums[3 * start + 1] as number);
  const sumOfSquares = (sums[3 * end + 2] as number) - (sums[3 * start + 2] as number);
  return Math.max(0, sumOfSquares - (sum * sum) / weight);
}

/**
 * Appends to `starts` the first distinct-value index of clusters 2 … `clusters` of an
 * optimal clustering of the distinct values [from, to) into `clusters` runs, in order.
 * Needs `to − from ≥ clusters`.
 */
export function splitOptimally(run: RunSums, scratch: SmawkScratch, from: number, to: number, clusters: number, starts: number[]): void {
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
  // Both are free again once the cut is known, so the halves reuse them.
  const [leftRow, rightRow] = scratch.splitRows(length);
  const leftCosts = prefixCosts(run, false, scratch, from, length, leftClusters, leftRow.subarray(0, length + 1));
  const rightCosts = prefixCosts(run, true, scratch, run.size - to, length, rightClusters, rightRow.subarray(0, length + 1));
  const cut = bestCut(leftCosts, rightCosts, length, leftClusters, rightClusters);

  splitOptimally(run, scratch, from, from + cut, leftClusters, starts);
  starts.push(from + cut);
  splitOptimally(run, scratch, from + cut, to, rightClusters, starts);
}

/**
 * Returns the p in [leftClusters, length − rightClusters] with the lowest
 * leftCosts[p] + rightCosts[length − p], the first such p on ties.
 */
export function bestCut(leftCosts: Float64Array, rightCosts: Float64Array, length: number, leftClusters: number, rightClusters: number): number {
  let cut = leftClusters;
  let best = Infinity;
  for (let p = leftClusters; p <= length - rightClusters; p++) {
    const cost = (leftCosts[p] as number) + (rightCosts[length - p] as number);
    if (cost < best) {
      best = cost;
      cut = p;
    }
  }
  return cut;
}

/**
 * Fills `into` (length + 1 entries) with costs[p] = the lowest squared error of the
 * distinct values [offset, offset + p) in `clusters` non-empty runs, for p = 0 … length
 * (Infinity where p < clusters), counting from the largest value down with `reversed`,
 * and returns it. Fills one layer per cluster count, alternating between `into` and the
 * scratch's spare row so that the last layer lands in `into`.
 */
export function prefixCosts(
  run: RunSums,
  reversed: boolean,
  scratch: SmawkScratch,
  offset: number,
  length: number,
  clusters: number,
  into: Float64Array,
): Float64Array {
  const spare = scratch.spareRow.subarray(0, length + 1);
  let previous = clusters % 2 === 1 ? into : spare;
  let next = clusters % 2 === 1 ? spare : into;
  previous[0] = Infinity;
  for (let p = 1; p <= length; p++) previous[p] = runError(run, reversed, offset, offset + p);

  const matrix = new LayerMatrix(run, reversed, offset);
  for (let layer = 2; layer <= clusters; layer++) {
    next.fill(Infinity, 0, layer);
    matrix.previous = previous;
    const columnCount = length - layer + 1;
    const columns = scratch.allocate(columnCount);
    for (let i = 0; i < columnCount; i++) columns[i] = layer - 1 + i;
    smawk(matrix, scratch, next, layer, 1, columnCount, columns);
    scratch.release(columnCount);
    const swap = previous;
    previous = next;
    next = swap;
  }
  return previous;
}

/**
 * The matrix of one layer: entry (p, q) = previous[q] + the error of the run [q, p),
 * +Infinity for q ≥ p, which keeps the matrix totally monotone. It reads the prefix
 * sums directly so that SMAWK's calls stay on one class and the engine can inline them.
 */
export class LayerMatrix {
  previous: Float64Array = new Float64Array(0);
  private readonly sums: Float64Array;
  private readonly size: number;

  constructor(
    run: RunSums,
    private readonly reversed: boolean,
    private readonly offset: number,
  ) {
    this.sums = run.sums;
    this.size = run.size;
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
export function smawk(
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
 * Buffers for the programme over up to `length` distinct values: the column stacks of
 * all SMAWK recursion levels with their cached entries, taken and returned last in,
 * first out, each row's best column, and cost rows. The stacks of one call chain add up
 * to at most 2·(length + 1) columns plus the first column list. That is 40 bytes per
 * distinct value. splitOptimally's two rows add 16 bytes per value of the largest range
 * it has split with this scratch, so a scratch that only fills cost rows has none.
 */
export class SmawkScratch {
  readonly argmin: Int32Array;
  /** The row prefixCosts alternates with the row it fills. */
  readonly spareRow: Float64Array;
  private readonly buffer: Int32Array;
  private readonly values: Float64Array;
  /** splitOptimally's left and right cost rows, empty until it first splits a range. */
  private leftSplitRow = new Float64Array(0);
  private rightSplitRow = new Float64Array(0);
  private used = 0;
  private valuesUsed = 0;

  constructor(readonly length: number) {
    this.argmin = new Int32Array(length + 1);
    this.spareRow = new Float64Array(length + 1);
    this.buffer = new Int32Array(3 * (length + 1));
    this.values = new Float64Array(2 * (length + 1));
  }

  /**
   * Returns splitOptimally's left and right cost rows with at least `length + 1` entries
   * each, replacing them when they are shorter. They are sized by the range to split, not
   * by the scratch, because a worker splits small ranges with a scratch that it first
   * sized for a cost row over every distinct value.
   */
  splitRows(length: number): [Float64Array, Float64Array] {
    if (this.leftSplitRow.length < length + 1) {
      this.leftSplitRow = new Float64Array(length + 1);
      this.rightSplitRow = new Float64Array(length + 1);
    }
    return [this.leftSplitRow, this.rightSplitRow];
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
