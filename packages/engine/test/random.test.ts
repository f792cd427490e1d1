import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRandom, shuffleInPlace } from '../src/random.js';

describe('seeded random stream', () => {
  it('repeats for the same seed', () => {
    const first = createRandom(42);
    const second = createRandom(42);
    for (let i = 0; i < 100; i++) {
      assert.equal(first.nextUint32(), second.nextUint32());
    }
  });

  it('differs between seeds', () => {
    const first = createRandom(1);
    const second = createRandom(2);
    const same = Array.from({ length: 20 }, () => first.nextUint32() === second.nextUint32()).filter(Boolean).length;
    assert.ok(same < 3, `${same} of 20 draws were equal`);
  });

  it('draws floats in [0, 1) with a mean near 0.5', () => {
    const random = createRandom(7);
    let sum = 0;
    for (let i = 0; i < 10_000; i++) {
      const value = random.nextFloat();
      assert.ok(value >= 0, `draw ${i} is ${value}`);
      assert.ok(value < 1, `draw ${i} is ${value}`);
      sum += value;
    }
    assert.ok(Math.abs(sum / 10_000 - 0.5) < 0.02, `mean is ${sum / 10_000}`);
  });

  it('draws integers below the bound', () => {
    const random = createRandom(3);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const value = random.nextInt(5);
      assert.ok(Number.isInteger(value), `draw ${i} is ${value}`);
      assert.ok(value >= 0, `draw ${i} is ${value}`);
      assert.ok(value < 5, `draw ${i} is ${value}`);
      seen.add(value);
    }
    assert.equal(seen.size, 5);
  });

  it('rejects a fractional seed', () => {
    assert.throws(() => createRandom(0.5), RangeError);
  });

  it('shuffles into a permutation', () => {
    const indices = Int32Array.from({ length: 50 }, (_, i) => i);
    shuffleInPlace(indices, createRandom(9));
    assert.deepEqual([...indices].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
    assert.notDeepEqual([...indices], Array.from({ length: 50 }, (_, i) => i));
  });
});
