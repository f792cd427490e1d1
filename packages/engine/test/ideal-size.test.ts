import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { measureClusteringError } from '../src/clustering-error.js';
import { entropyBits, idealBytes } from '../src/ideal-size.js';
import { sumOfSquaredDifferences, sumOfSquaredErrors } from '../src/squared-error.js';

describe('assignment entropy', () => {
  it('is 2 bits for four equally used values', () => {
    assert.equal(entropyBits(new Float32Array([1, 2, 3, 4, 4, 3, 2, 1])), 2);
  });

  it('is 0 bits for a constant tensor', () => {
    assert.equal(entropyBits(new Float32Array([0.5, 0.5, 0.5])), 0);
  });

  it('is 0 bits for an empty tensor', () => {
    assert.equal(entropyBits(new Float32Array(0)), 0);
  });

  it('weights values by their counts', () => {
    // p = 1/2, 1/4, 1/4: H = 0.5·1 + 2·0.25·2 = 1.5 bits.
    assert.equal(entropyBits(new Float32Array([7, 7, -1, 3])), 1.5);
    // p = 3/4, 1/4: H = −0.75·log2(0.75) − 0.25·log2(0.25) ≈ 0.811278.
    assert.ok(Math.abs(entropyBits(new Float32Array([5, 5, 5, 9])) - 0.8112781244591328) < 1e-12);
  });
});

describe('ideal size', () => {
  it('adds the centroid table to the coded indices', () => {
    // 8 weights at 2 bits = 2 bytes, plus 4 centroids of 4 bytes.
    assert.equal(idealBytes(new Float32Array([1, 2, 3, 4, 4, 3, 2, 1]), 4), 18);
  });

  it('counts the whole table when clusters stay empty', () => {
    // 4 weights at 1.5 bits = 0.75 bytes, rounded up to 1, plus 16 centroids.
    assert.equal(idealBytes(new Float32Array([7, 7, -1, 3]), 16), 1 + 64);
  });

  it('rounds a fractional size up', () => {
    // 4 · 0.811278 / 8 = 0.405639 bytes, rounded up to 1, plus 2 centroids.
    assert.equal(idealBytes(new Float32Array([5, 5, 5, 9]), 2), 9);
  });

  it('is 4 bytes per weight for unclustered tensors', () => {
    assert.equal(idealBytes(new Float32Array([1, 1, 1, 2, 3]), null), 20);
  });
});

describe('squared errors', () => {
  it('measures the distance to the nearest centroid', () => {
    // Nearest centroids 0 (or 1, at the midpoint), 0, 1, 4, 1: errors 0.25 + 0.01 + 0.36 + 1 + 1.
    const values = new Float32Array([0.5, -0.1, 1.6, 5, 2]);
    const error = sumOfSquaredErrors(values, new Float32Array([0, 1, 4]));
    assert.ok(Math.abs(error - 2.62) < 1e-6, `error ${error}`);
  });

  it('counts a midpoint value once', () => {
    assert.equal(sumOfSquaredErrors(new Float32Array([1]), new Float32Array([0, 2])), 1);
  });

  it('rejects unsorted centroids', () => {
    assert.throws(() => sumOfSquaredErrors(new Float32Array([1]), new Float32Array([2, 0])), /sorted ascending/);
  });

  it('sums squared differences of two tensors', () => {
    assert.equal(sumOfSquaredDifferences(new Float32Array([1, 2, 3]), new Float32Array([1, 4, 0])), 13);
  });

  it('rejects tensors of different lengths', () => {
    assert.throws(() => sumOfSquaredDifferences(new Float32Array(2), new Float32Array(3)), RangeError);
  });
});

describe('clustering error report', () => {
  it('measures a clustered tensor', () => {
    const report = measureClusteringError({
      original: new Float32Array([0.9, 1.2, 2.9, 3.1]),
      shipped: new Float32Array([1, 1, 3, 3]),
      initialCentroids: new Float32Array([3, 0]),
      numberOfClusters: 2,
    });
    // Initial: 0.9 and 1.2 nearest 0, 2.9 and 3.1 nearest 3.
    assert.ok(Math.abs((report.sse_initial as number) - (0.81 + 1.44 + 0.01 + 0.01)) < 1e-6);
    assert.ok(Math.abs(report.sse_final - (0.01 + 0.04 + 0.01 + 0.01)) < 1e-6);
    assert.equal(report.entropy_bits, 1);
    // 4 weights at 1 bit round up to 1 byte, plus 2 centroids.
    assert.equal(report.ideal_bytes, 9);
  });

  it('measures an unclustered tensor', () => {
    const report = measureClusteringError({ original: new Float32Array([1, NaN, 3]), shipped: null, initialCentroids: null, numberOfClusters: null });
    assert.deepEqual(report, { sse_initial: null, sse_final: 0, entropy_bits: null, ideal_bytes: 12 });
  });

  it('rejects a partly clustered outcome', () => {
    assert.throws(
      () => measureClusteringError({ original: new Float32Array(2), shipped: new Float32Array(2), initialCentroids: null, numberOfClusters: 2 }),
      RangeError,
    );
  });
});
