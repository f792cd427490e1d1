import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { createMaxPoolGradKernel } from '../../src/kernels/index.js';
import { assertOutputsClose, createRandom, getCpuKernelFunc, pick, randomInt, randomTensor, runKernelFunc } from './helpers.js';

const TOLERANCE = 1e-4;

// This file never registers the fast kernels, so these stay the tfjs originals.
const originalMaxPool = getCpuKernelFunc(tf.MaxPool);
const originalMaxPoolGrad = getCpuKernelFunc(tf.MaxPoolGrad);
const fastMaxPoolGrad = createMaxPoolGradKernel(originalMaxPoolGrad);

before(async () => {
  await tf.setBackend('cpu');
});

interface PoolCase {
  xShape: [number, number, number, number];
  filterSize: [number, number];
  strides: [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  info: tf.backend_util.Conv2DInfo;
}

function randomPoolCase(random: () => number): PoolCase {
  for (;;) {
    const xShape: [number, number, number, number] = [
      randomInt(random, 1, 3),
      randomInt(random, 1, 12),
      randomInt(random, 1, 12),
      randomInt(random, 1, 8),
    ];
    const filterSize: [number, number] = [randomInt(random, 1, 4), randomInt(random, 1, 4)];
    const strides: [number, number] = [randomInt(random, 1, 3), randomInt(random, 1, 3)];
    const kind = pick(random, ['valid', 'same', 'number', 'explicit'] as const);
    let pad: PoolCase['pad'] = kind === 'valid' || kind === 'same' ? kind : randomInt(random, 0, 1);
    if (kind === 'explicit') {
      pad = [[0, 0], [randomInt(random, 0, 1), randomInt(random, 0, 1)], [randomInt(random, 0, 1), randomInt(random, 0, 1)], [0, 0]];
    }
    const dimRoundingMode = typeof pad === 'string' ? undefined : pick(random, [undefined, 'floor', 'ceil'] as const);
    const info = tf.backend_util.computePool2DInfo(xShape, filterSize, strides, 1, pad, dimRoundingMode);
    if (info.outHeight >= 1 && info.outWidth >= 1) {
      return { xShape, filterSize, strides, pad, dimRoundingMode, info };
    }
  }
}

function describePoolCase(poolCase: PoolCase): string {
  const { xShape, filterSize, strides, pad, dimRoundingMode, info } = poolCase;
  return (
    `x [${xShape.join(',')}] filter ${filterSize.join('x')} strides ${strides.join('x')} pad ${JSON.stringify(pad)} ` +
    `rounding ${dimRoundingMode ?? 'none'} out [${info.outShape.join(',')}]`
  );
}

/** Runs the original and the fast MaxPoolGrad on x and a random dy and compares them. */
function comparePoolGradients(random: () => number, poolCase: PoolCase, x: tf.Tensor, message: string): void {
  const { filterSize, strides, pad, dimRoundingMode } = poolCase;
  const attrs = { filterSize, strides, pad, dimRoundingMode };
  const y = runKernelFunc(originalMaxPool, { x }, attrs);
  const output = tf.tensor(y.values, y.shape, y.dtype);
  const dy = randomTensor(random, poolCase.info.outShape);

  const expected = runKernelFunc(originalMaxPoolGrad, { dy, input: x, output }, attrs);
  const actual = runKernelFunc(fastMaxPoolGrad, { dy, input: x, output }, attrs);
  assertOutputsClose(actual, expected, TOLERANCE, message);
  tf.dispose([output, dy]);
}

test('max pool gradient matches original kernel', () => {
  const random = createRandom(701);
  for (let caseIndex = 0; caseIndex < 300; caseIndex++) {
    const poolCase = randomPoolCase(random);
    const x = randomTensor(random, poolCase.xShape);
    comparePoolGradients(random, poolCase, x, `case ${caseIndex}: ${describePoolCase(poolCase)}`);
    x.dispose();
  }
});

test('max pool gradient breaks ties like original', () => {
  // Values from {-1, 0, 1} make windows with equal maxima. NaN in 0%, 10% or 90% of the values
  // also makes windows that contain only NaN, which have no maximum.
  const random = createRandom(702);
  for (let caseIndex = 0; caseIndex < 100; caseIndex++) {
    const poolCase = randomPoolCase(random);
    const size = poolCase.xShape.reduce((product, dimension) => product * dimension, 1);
    const nanFraction = pick(random, [0, 0.1, 0.9]);
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      values[i] = random() < nanFraction ? Number.NaN : randomInt(random, -1, 1);
    }
    const x = tf.tensor(values, poolCase.xShape);
    comparePoolGradients(random, poolCase, x, `case ${caseIndex}: ${describePoolCase(poolCase)}`);
    x.dispose();
  }
});

test('max pool gradient passes int32 input to original kernel', () => {
  const random = createRandom(703);
  const poolCase = randomPoolCase(random);
  const x = tf.tidy(() => randomTensor(random, poolCase.xShape).mul(100).round().toInt());
  comparePoolGradients(random, poolCase, x, describePoolCase(poolCase));
  x.dispose();
});

test('max pool gradient rejects dy of wrong shape', () => {
  const x = tf.zeros([1, 4, 4, 2]);
  const dy = tf.zeros([1, 3, 3, 2]);
  const attrs = { filterSize: 2, strides: 2, pad: 'valid' };
  assert.throws(
    () => runKernelFunc(fastMaxPoolGrad, { dy, input: x, output: dy }, attrs),
    /input 'dy' has shape \[1, 3, 3, 2\], expected \[1, 2, 2, 2\]/,
  );
  tf.dispose([x, dy]);
});
