// Greedy k-means++ seeding for scalar weights, with the sampling rules of TensorFlow's
// `KmeansPlusPlusInitialization` kernel (tensorflow/core/kernels/clustering_ops.cc).
// TFMOT calls it with `num_retries_per_sample = -1`, so every centroid, the first one
// included, is the best of 3 + ⌊ln N⌋ candidates. The best candidate leaves the lowest
// total squared distance (the potential), and the earlier candidate wins a tie.
// Candidates for the first centroid are drawn uniformly. Later ones are drawn with
// probability proportional to the squared distance to the nearest chosen centroid (D²).
// Once every value coincides with a chosen centroid the potential is zero, and, as in
// TensorFlow, the remaining centroids are drawn uniformly from the values, so they
// repeat chosen ones.
//
// TensorFlow rescans all n values for every candidate, O(n·N·log N) in total. In one
// dimension a new centroid only changes the values between its two neighbouring
// centroids, so this version sorts the values once and keeps, per gap between
// neighbouring centroids, the gap's cost from prefix sums. A candidate then costs
// O(log n), and the whole seeding O(n log n + N log N · log n). The sorted copy is the
// only buffer the size of the tensor (sorted-values.ts). The random streams
// differ from TensorFlow's Philox generator, so the centroids match TFMOT's in
// distribution, not value for value.
import type { RandomStream } from './random.js';
import { SortedValues } from './sorted-values.js';

/** Returns `count` centroids chosen from `values` by greedy k-means++, sorted ascending. */
export function kmeansPlusPlusCentroids(values: Float32Array, count: number, random: RandomStream): Float32Array {
  return seedCentroids(new SortedValues(values), count, random);
}

/** Returns `count` centroids chosen by greedy k-means++ from values already sorted, sorted ascending. */
export function seedCentroids(costs: SortedValues, count: number, random: RandomStream): Float32Array {
  const n = costs.size;
  const candidatesPerCentroid = 3 + Math.floor(Math.log(count));
  const gaps = new GapTable(count + 1);
  const centroids = new Float32Array(count);

  // First centroid: the best of several uniform draws, scored by the whole potential.
  let bestPosition = -1;
  let bestPotential = Infinity;
  for (let trial = 0; trial < candidatesPerCentroid; trial++) {
    const position = random.nextInt(n);
    const potential = costs.rangeCost(0, n, costs.valueAt(position));
    if (potential < bestPotential) {
      bestPotential = potential;
      bestPosition = position;
    }
  }
  centroids[0] = costs.valueAt(bestPosition);
  if (bestPosition > 0) gaps.add(0, bestPosition, false, costs);
  gaps.add(bestPosition, n, true, costs);

  for (let chosen = 1; chosen < count; chosen++) {
    if (!gaps.hasPositiveCost()) {
      // Every value equals a chosen centroid, so only duplicates are left.
      centroids[chosen] = costs.valueAt(random.nextInt(n));
      continue;
    }

    let bestGap = -1;
    let bestCandidate = -1;
    let bestDelta = Infinity;
    for (let trial = 0; trial < candidatesPerCentroid; trial++) {
      const { gap, position } = gaps.sample(random.nextFloat(), costs);
      const delta = gaps.splitCost(gap, position, costs) - gaps.cost(gap);
      if (delta < bestDelta) {
        bestDelta = delta;
        bestGap = gap;
        bestCandidate = position;
      }
    }
    centroids[chosen] = costs.valueAt(bestCandidate);
    gaps.split(bestGap, bestCandidate, costs);
  }

  return centroids.sort();
}

/**
 * The gaps between neighbouring centroids, each a run [from, to) of sorted positions.
 * A gap's left centroid, when it has one, is at `from`. Its right centroid is at `to`
 * unless `to` is the end of the values. Each value in a gap is nearest to one of
 * those two, so a new centroid inside a gap changes nothing outside it. Costs live in a
 * Fenwick tree, so a gap is drawn with probability proportional to its cost in
 * O(log N).
 */
class GapTable {
  private readonly from: Int32Array;
  private readonly to: Int32Array;
  private readonly hasLeft: Uint8Array;
  private readonly costs: Float64Array;
  private readonly tree: Float64Array;
  private count = 0;
  private positiveCount = 0;
  private updatesSinceRebuild = 0;

  constructor(capacity: number) {
    this.from = new Int32Array(capacity);
    this.to = new Int32Array(capacity);
    this.hasLeft = new Uint8Array(capacity);
    this.costs = new Float64Array(capacity);
    this.tree = new Float64Array(capacity + 1);
  }

  hasPositiveCost(): boolean {
    return this.positiveCount > 0;
  }

  cost(gap: number): number {
    return this.costs[gap] as number;
  }

  add(from: number, to: number, hasLeft: boolean, sortedCosts: SortedValues): void {
    const gap = this.count++;
    this.from[gap] = from;
    this.to[gap] = to;
    this.hasLeft[gap] = hasLeft ? 1 : 0;
    this.setCost(gap, this.gapCost(from, to, hasLeft, sortedCosts));
  }

  /** Returns the cost the gap would have, as two gaps, after a new centroid at `position`. */
  splitCost(gap: number, position: number, sortedCosts: SortedValues): number {
    const from = this.from[gap] as number;
    const to = this.to[gap] as number;
    const hasLeft = this.hasLeft[gap] === 1;
    return this.gapCost(from, position, hasLeft, sortedCosts) + this.gapCost(position, to, true, sortedCosts);
  }

  /** Places a new centroid at `position`. The gap keeps its left part and a new gap takes the right part. */
  split(gap: number, position: number, sortedCosts: SortedValues): void {
    const from = this.from[gap] as number;
    const to = this.to[gap] as number;
    const hasLeft = this.hasLeft[gap] === 1;
    this.to[gap] = position;
    this.setCost(gap, this.gapCost(from, position, hasLeft, sortedCosts));
    this.add(position, to, true, sortedCosts);
  }

  /**
   * Draws a value position with probability proportional to its D², given `uniform` in
   * [0, 1). The position always has a positive D², so it is never a chosen centroid.
   */
  sample(uniform: number, sortedCosts: SortedValues): { gap: number; position: number } {
    const { gap, fraction } = this.drawGap(uniform);
    const from = this.from[gap] as number;
    const to = this.to[gap] as number;
    const left = this.hasLeft[gap] === 1 ? sortedCosts.valueAt(from) : null;
    const right = to < sortedCosts.size ? sortedCosts.valueAt(to) : null;
    const middle = this.middleOf(from, to, left, right, sortedCosts);

    const leftCost = left === null ? 0 : sortedCosts.rangeCost(from, middle, left);
    const rightCost = right === null ? 0 : sortedCosts.rangeCost(middle, to, right);
    // Where the draw fell inside the gap's cost picks the value, so one uniform number
    // gives a value with probability proportional to its D² over all values.
    const target = fraction * (leftCost + rightCost);

    if (left !== null && (target < leftCost || rightCost === 0)) {
      const position = this.searchCumulative(from, middle, left, Math.min(target, leftCost), sortedCosts);
      // Values equal to the left centroid lead the run and cost nothing, so skip them.
      return { gap, position: Math.min(Math.max(position, sortedCosts.firstAbove(from, middle, left)), middle - 1) };
    }
    const rightTarget = Math.max(0, target - leftCost);
    const position = this.searchCumulative(middle, to, right as number, rightTarget, sortedCosts);
    // Values equal to the right centroid close the run and cost nothing, so stop before them.
    const lastBelow = sortedCosts.firstNotBelow(middle, to, right as number) - 1;
    return { gap, position: Math.max(middle, Math.min(position, lastBelow)) };
  }

  /** Draws a gap in proportion to its cost; `fraction` is where in the gap's cost the draw fell, in [0, 1). */
  private drawGap(uniform: number): { gap: number; fraction: number } {
    const total = this.prefixSum(this.count);
    let remaining = uniform * total;
    let index = 0;
    for (let step = highestPowerOfTwoAtMost(this.count); step > 0; step >>= 1) {
      const next = index + step;
      if (next <= this.count && (this.tree[next] as number) <= remaining) {
        index = next;
        remaining -= this.tree[next] as number;
      }
    }
    let gap = index; // The first gap whose cumulative cost exceeds the target, 0-based.
    if (gap >= this.count || (this.costs[gap] as number) <= 0) {
      // Rounding in the tree overshot the total, so take the last gap that has a cost.
      gap = this.count - 1;
      while (gap > 0 && (this.costs[gap] as number) <= 0) gap--;
      remaining = this.costs[gap] as number;
    }
    const fraction = Math.min(Math.max(remaining / (this.costs[gap] as number), 0), 1 - Number.EPSILON);
    return { gap, fraction };
  }

  /** Returns the first position p in [from, to) with Σ_{from..p} (v − centre)² > target. */
  private searchCumulative(from: number, to: number, centre: number, target: number, sortedCosts: SortedValues): number {
    let low = from;
    let high = to - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (sortedCosts.rangeCost(from, middle + 1, centre) > target) high = middle;
      else low = middle + 1;
    }
    return low;
  }

  private middleOf(from: number, to: number, left: number | null, right: number | null, sortedCosts: SortedValues): number {
    if (left === null) return from;
    if (right === null) return to;
    // Values at the exact midpoint go to the left centroid, as in assignment.
    return sortedCosts.firstAbove(from, to, (left + right) / 2);
  }

  private gapCost(from: number, to: number, hasLeft: boolean, sortedCosts: SortedValues): number {
    const left = hasLeft ? sortedCosts.valueAt(from) : null;
    const right = to < sortedCosts.size ? sortedCosts.valueAt(to) : null;
    const middle = this.middleOf(from, to, left, right, sortedCosts);
    const leftCost = left === null ? 0 : sortedCosts.rangeCost(from, middle, left);
    const rightCost = right === null ? 0 : sortedCosts.rangeCost(middle, to, right);
    return leftCost + rightCost;
  }

  private setCost(gap: number, cost: number): void {
    const previous = this.costs[gap] as number;
    if (previous > 0) this.positiveCount--;
    if (cost > 0) this.positiveCount++;
    this.costs[gap] = cost;

    this.updatesSinceRebuild++;
    if (this.updatesSinceRebuild >= 1024) {
      this.rebuildTree();
      return;
    }
    for (let index = gap + 1; index < this.tree.length; index += index & -index) {
      this.tree[index] = (this.tree[index] as number) + (cost - previous);
    }
  }

  // Many updates of ± differences let rounding error build up in the tree, so it is
  // rebuilt from the exact per-gap costs now and then.
  private rebuildTree(): void {
    this.updatesSinceRebuild = 0;
    this.tree.fill(0);
    for (let index = 1; index < this.tree.length; index++) {
      this.tree[index] = (this.tree[index] as number) + (this.costs[index - 1] as number);
      const parent = index + (index & -index);
      if (parent < this.tree.length) this.tree[parent] = (this.tree[parent] as number) + (this.tree[index] as number);
    }
  }

  private prefixSum(length: number): number {
    let total = 0;
    for (let index = length; index > 0; index -= index & -index) total += this.tree[index] as number;
    return total;
  }
}

function highestPowerOfTwoAtMost(value: number): number {
  let power = 1;
  while (power * 2 <= value) power *= 2;
  return value < 1 ? 0 : power;
}
