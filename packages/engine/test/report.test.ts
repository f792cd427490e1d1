import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countDistinct } from '../src/report.js';

describe('distinct value count', () => {
  it('counts repeated values once', () => {
    assert.equal(countDistinct(new Float32Array([0.5, 1, 0.5, -2, 1, 1])), 3);
  });

  it('returns zero for an empty tensor', () => {
    assert.equal(countDistinct(new Float32Array(0)), 0);
  });

  it('counts positive and negative zero apart', () => {
    assert.equal(countDistinct(new Float32Array([0, -0, 0])), 2);
  });

  it('counts a subarray view only', () => {
    const values = new Float32Array([7, 1, 2, 2, 9]);
    assert.equal(countDistinct(values.subarray(1, 4)), 2);
  });

  it('handles ten million values', () => {
    const values = new Float32Array(10_000_000);
    for (let i = 0; i < values.length; i++) values[i] = i % 16;
    assert.equal(countDistinct(values), 16);
  });
});
