import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { createSumKernel } from '../../src/kernels/index.js';
import { assertOutputsClose, createRandom, getCpuKernelFunc, randomInt, randomTensor, runKernelFunc } from './helpers.js';

const TOLERANCE = 1e-5;

// This file never registers the fast kernels, so this stays the tfjs original.
const originalSum = getCpuKernelFunc(tf.Sum);
const fastSum = createSumKernel(originalSum);

before(async () => {
  await tf.setBackend('cpu');
});

test('sum matches original kernel', () => {
  // Axis lists that are leading (the fast path), inner, mixed, all or negative, with and without keepDims.
  const axisChoices: (number | number[])[] = [0, [0, 1], [0, 1, 2], [1, 0], -1, [0, 2], [1, 2, 3], [0, 1, 2, 3], [-4, -3]];
  const random = createRandom(901);
  for (let caseIndex = 0; caseIndex < 120; caseIndex++) {
    const shape = [randomInt(random, 1, 5), randomInt(random, 1, 6), randomInt(random, 1, 6), randomInt(random, 1, 9)];
    const axis = axisChoices[caseIndex % axisChoices.length]!;
    const keepDims = random() < 0.5;
    const x = randomTensor(random, shape);
    const message = `case ${caseIndex}: x [${shape.join(',')}] axis ${JSON.stringify(axis)} keepDims ${keepDims}`;

    const expected = runKernelFunc(originalSum, { x }, { axis, keepDims });
    const actual = runKernelFunc(fastSum, { x }, { axis, keepDims });
    assertOutputsClose(actual, expected, TOLERANCE, message);
    x.dispose();
  }
});

test('sum over leading axis of matrix', () => {
  const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
  const actual = runKernelFunc(fastSum, { x }, { axis: 0, keepDims: true });
  assert.deepEqual(actual.shape, [1, 2]);
  assert.deepEqual([...actual.values], [9, 12]);
  x.dispose();
});

test('sum passes int32 and bool input to original kernel', () => {
  for (const dtype of ['int32', 'bool'] as const) {
    const x = tf.tensor2d([1, 0, 1, 1, 0, 1], [3, 2], dtype);
    const expected = runKernelFunc(originalSum, { x }, { axis: 0, keepDims: false });
    const actual = runKernelFunc(fastSum, { x }, { axis: 0, keepDims: false });
    assert.equal(actual.dtype, 'int32', dtype);
    assertOutputsClose(actual, expected, 0, dtype);
    x.dispose();
  }
});
