import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { createBatchMatMulKernel } from '../../src/kernels/index.js';
import { assertOutputsClose, createRandom, getCpuKernelFunc, pick, randomInt, randomTensor, runKernelFunc } from './helpers.js';

const TOLERANCE = 1e-4;

// This file never registers the fast kernels, so this stays the tfjs original.
const originalBatchMatMul = getCpuKernelFunc(tf.BatchMatMul);
const fastBatchMatMul = createBatchMatMulKernel(originalBatchMatMul);

before(async () => {
  await tf.setBackend('cpu');
});

test('batch matmul matches original kernel', () => {
  const random = createRandom(801);
  for (let caseIndex = 0; caseIndex < 200; caseIndex++) {
    const rows = randomInt(random, 1, 13);
    const cols = randomInt(random, 1, 13);
    const depth = randomInt(random, 1, 70);
    const transposeA = random() < 0.5;
    const transposeB = random() < 0.5;
    // Outer shapes: none, equal, or one side broadcast from a batch of 1 or from fewer dimensions.
    const outer = pick(random, [[], [3], [2, 3]]);
    const outerA = outer.length > 0 && random() < 0.3 ? pick(random, [[1], outer.slice(1)]) : outer;
    const outerB = outer;

    const aShape = [...outerA, ...(transposeA ? [depth, rows] : [rows, depth])];
    const bShape = [...outerB, ...(transposeB ? [cols, depth] : [depth, cols])];
    const a = randomTensor(random, aShape);
    const b = randomTensor(random, bShape);
    const attrs = { transposeA, transposeB };
    const message = `case ${caseIndex}: a [${aShape.join(',')}] b [${bShape.join(',')}] transposeA=${transposeA} transposeB=${transposeB}`;

    const expected = runKernelFunc(originalBatchMatMul, { a, b }, attrs);
    const actual = runKernelFunc(fastBatchMatMul, { a, b }, attrs);
    assertOutputsClose(actual, expected, TOLERANCE, message);
    tf.dispose([a, b]);
  }
});

test('batch matmul passes int32 input to original kernel', () => {
  const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32');
  const b = tf.tensor2d([1, 0, 0, 1, 1, 1], [3, 2], 'int32');
  const actual = runKernelFunc(fastBatchMatMul, { a, b }, { transposeA: false, transposeB: false });
  assert.equal(actual.dtype, 'int32');
  assert.deepEqual([...actual.values], [4, 5, 10, 11]);
  tf.dispose([a, b]);
});

test('batch matmul rejects mismatched inner dimensions', () => {
  const a = tf.zeros([2, 3]);
  const b = tf.zeros([4, 2]);
  assert.throws(
    () => runKernelFunc(fastBatchMatMul, { a, b }, { transposeA: false, transposeB: false }),
    /inner dimensions 3 and 4 of shapes \[2, 3\] and \[4, 2\]/,
  );
  tf.dispose([a, b]);
});
