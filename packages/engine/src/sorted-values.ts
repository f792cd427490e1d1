// A sorted copy of a tensor's values with prefix sums of (v − centre) and (v − centre)²,
// where the centre is the mean. k-means++ seeding and Lloyd iterations read the sum of
// any run of sorted values from them in place of a pass over the run.
//
// Full prefix arrays would need 16 bytes per value on top of the 4 of the sorted copy,
// four times the tensor for a 100-million-weight kernel. So the sums are kept only at
// every BLOCK-th position. A query adds the values from the block start on, in the order
// a full prefix array would, so every sum is bit for bit the one that array would hold.
// A query costs up to BLOCK additions. Seeding makes O(N log N · log n) queries and each
// Lloyd iteration O(N), so that adds little beside the sort.

/** Values between stored prefix sums. */
const BLOCK = 64;

/** The sorted values of a tensor and their sums over any run of positions. */
export class SortedValues {
  readonly size: number;
  /** The mean of the values, which the sums are centred on. */
  readonly centre: number;
  private readonly sorted: Float32Array;
  /** Σ (v − centre) over the positions [0, BLOCK·k), at k. */
  private readonly blockSums: Float64Array;
  /** Σ (v − centre)² over the positions [0, BLOCK·k), at k. */
  private readonly blockSquares: Float64Array;

  constructor(values: Float32Array) {
    this.sorted = Float32Array.from(values).sort();
    this.size = this.sorted.length;

    let total = 0;
    for (let i = 0; i < this.size; i++) total += this.sorted[i] as number;
    this.centre = total / this.size;

    const blocks = Math.floor(this.size / BLOCK) + 1;
    this.blockSums = new Float64Array(blocks);
    this.blockSquares = new Float64Array(blocks);
    let sum = 0;
    let squares = 0;
    for (let i = 0; i < this.size; i++) {
      if (i % BLOCK === 0) {
        this.blockSums[i / BLOCK] = sum;
        this.blockSquares[i / BLOCK] = squares;
      }
      const centred = (this.sorted[i] as number) - this.centre;
      sum += centred;
      squares += centred * centred;
    }
    if (this.size % BLOCK === 0) {
      this.blockSums[blocks - 1] = sum;
      this.blockSquares[blocks - 1] = squares;
    }
  }

  valueAt(position: number): number {
    return this.sorted[position] as number;
  }

  /** Returns Σ (v − centre) over the positions [0, end). */
  prefixSum(end: number): number {
    const block = Math.floor(end / BLOCK);
    let sum = this.blockSums[block] as number;
    for (let i = block * BLOCK; i < end; i++) sum += (this.sorted[i] as number) - this.centre;
    return sum;
  }

  /** Returns Σ (v − centre)² over the positions [0, end). */
  prefixSquares(end: number): number {
    const block = Math.floor(end / BLOCK);
    let squares = this.blockSquares[block] as number;
    for (let i = block * BLOCK; i < end; i++) {
      const centred = (this.sorted[i] as number) - this.centre;
      squares += centred * centred;
    }
    return squares;
  }

  /** Returns the float32 nearest to the mean of the positions [from, to), which must not be empty. */
  mean(from: number, to: number): number {
    return Math.fround(this.centre + (this.prefixSum(to) - this.prefixSum(from)) / (to - from));
  }

  /** Returns Σ (v − point)² over the positions [from, to). */
  rangeCost(from: number, to: number, point: number): number {
    if (to <= from) return 0;
    // Sorted, so equal end values mean every value in the run equals the point. The
    // exact zero keeps the degenerate case free of rounding noise.
    if (this.sorted[from] === point && this.sorted[to - 1] === point) return 0;

    const count = to - from;
    const sum = this.prefixSum(to) - this.prefixSum(from);
    const sumOfSquares = this.prefixSquares(to) - this.prefixSquares(from);
    const offset = point - this.centre;
    return Math.max(0, sumOfSquares - 2 * offset * sum + offset * offset * count);
  }

  /** Returns the first position in [from, to) whose value is greater than `threshold`, or `to`. */
  firstAbove(from: number, to: number, threshold: number): number {
    let low = from;
    let high = to;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.sorted[middle] as number) > threshold) high = middle;
      else low = middle + 1;
    }
    return low;
  }

  /** Returns the first position in [from, to) whose value is not less than `threshold`, or `to`. */
  firstNotBelow(from: number, to: number, threshold: number): number {
    let low = from;
    let high = to;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.sorted[middle] as number) >= threshold) high = middle;
      else low = middle + 1;
    }
    return low;
  }
}
