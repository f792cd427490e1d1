import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRandom } from '../src/random.js';
import { SortedValues } from '../src/sorted-values.js';

/** Full prefix arrays of (v − centre) and (v − centre)², summed in order. */
function fullPrefixSums(sorted: Float32Array, centre: number): { sums: Float64Array; squares: Float64Array } {
  const sums = new Float64Array(sorted.length + 1);
  const squares = new Float64Array(sorted.length + 1);
  for (let i = 0; i < sorted.length; i++) {
    const centred = (sorted[i] as number) - centre;
    sums[i + 1] = (sums[i] as number) + centred;
    squares[i + 1] = (squares[i] as number) + centred * centred;
  }
  return { sums, squares };
}

describe('sorted values with block prefix sums', () => {
  it('gives every prefix sum bit for bit as a full prefix array', () => {
    const random = createRandom(31);
    // Sizes on both sides of the 64-value blocks, where an off-by-one would show.
    for (const size of [1, 2, 63, 64, 65, 127, 128, 129, 1000, 4096]) {
      const values = Float32Array.from({ length: size }, () => random.nextFloat() * 6 - 3);
      const sortedValues = new SortedValues(values);
      const sorted = Float32Array.from(values).sort();
      const { sums, squares } = fullPrefixSums(sorted, sortedValues.centre);
      for (let end = 0; end <= size; end++) {
        assert.equal(sortedValues.prefixSum(end), sums[end], `sum of the first ${end} of ${size}`);
        assert.equal(sortedValues.prefixSquares(end), squares[end], `squares of the first ${end} of ${size}`);
      }
    }
  });

  it('gives the squared distance of a run to a point', () => {
    const random = createRandom(32);
    const values = Float32Array.from({ length: 500 }, () => Math.round(random.nextFloat() * 40) / 8);
    const sortedValues = new SortedValues(values);
    const sorted = Float32Array.from(values).sort();
    for (let trial = 0; trial < 200; trial++) {
      const from = random.nextInt(501);
      const to = from + random.nextInt(501 - from);
      const point = random.nextFloat() * 5;
      let expected = 0;
      for (let i = from; i < to; i++) expected += ((sorted[i] as number) - point) ** 2;
      assert.ok(Math.abs(sortedValues.rangeCost(from, to, point) - expected) <= 1e-9 * Math.max(1, expected), `run [${from}, ${to}) about ${point}`);
    }
    const repeated = sorted[100] as number;
    const first = sortedValues.firstNotBelow(0, 500, repeated);
    const end = sortedValues.firstAbove(0, 500, repeated);
    assert.equal(sortedValues.rangeCost(first, end, repeated), 0);
    assert.equal(sortedValues.mean(first, end), repeated);
  });
});
