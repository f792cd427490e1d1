import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prefixCosts, SmawkScratch, splitOptimally, type RunSums } from '../src/kmeans-1d-programme.js';

/** Returns the prefix sums of `size` evenly spaced distinct values, each seen once, centred on their mean. */
function evenlySpacedRun(size: number): RunSums {
  const sums = new Float64Array(3 * (size + 1));
  for (let i = 0; i < size; i++) {
    const centred = i - (size - 1) / 2;
    sums[3 * i + 3] = (sums[3 * i] as number) + 1;
    sums[3 * i + 4] = (sums[3 * i + 1] as number) + centred;
    sums[3 * i + 5] = (sums[3 * i + 2] as number) + centred * centred;
  }
  return { sums, size };
}

describe('SmawkScratch', () => {
  it('sizes split rows by the range split', () => {
    // A worker sizes its scratch for a cost row over every distinct value, then reuses it
    // for split tasks over short ranges.
    const run = evenlySpacedRun(1000);
    const scratch = new SmawkScratch(1000);
    prefixCosts(run, false, scratch, 0, 1000, 8, new Float64Array(1001));

    const starts: number[] = [];
    splitOptimally(run, scratch, 100, 120, 4, starts);
    assert.deepEqual(starts, [105, 110, 115]);

    const [left, right] = scratch.splitRows(0);
    assert.equal(left.length, 21);
    assert.equal(right.length, 21);
  });

  it('grows split rows for a longer range', () => {
    const scratch = new SmawkScratch(1000);
    assert.equal(scratch.splitRows(20)[0].length, 21);
    const [left, right] = scratch.splitRows(50);
    assert.equal(left.length, 51);
    assert.equal(right.length, 51);
    assert.equal(scratch.splitRows(10)[0], left);
  });
});
