import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { toConvGeometry } from '../../src/kernels/conv-geometry.js';
import { computeConv2DFilterGradient, conv2DBackpropFilter } from '../../src/kernels/index.js';
import {
  DEFAULT_CONV_LIMITS,
  assertAllClose,
  assertOutputsClose,
  createRandom,
  describeConvCase,
  getCpuKernelFunc,
  randomConvCase,
  randomTensor,
  runKernelFunc,
} from './helpers.js';
import type { ConvCase } from './helpers.js';

const TOLERANCE = 1e-4;

// The tfjs kernels as @tensorflow/tfjs-backend-cpu registers them. This file never registers the
// fast kernels, so these stay the originals.
const originalFilterGradient = getCpuKernelFunc(tf.Conv2DBackpropFilter);
const originalConv2D = getCpuKernelFunc(tf.Conv2D);
const fastFilterGradient = conv2DBackpropFilter as tf.KernelFunc;

before(async () => {
  await tf.setBackend('cpu');
});

function filterGradientAttrs(convCase: ConvCase): object {
  const { strides, pad, dataFormat, dimRoundingMode, filterShape, dilations } = convCase;
  return { strides, pad, dataFormat, dimRoundingMode, filterShape, dilations };
}

test('filter gradient matches original kernel', () => {
  const random = createRandom(101);
  for (let caseIndex = 0; caseIndex < 300; caseIndex++) {
    const convCase = randomConvCase(random);
    const x = randomTensor(random, convCase.xShape);
    const dy = randomTensor(random, convCase.info.outShape);
    const attrs = filterGradientAttrs(convCase);

    const expected = runKernelFunc(originalFilterGradient, { x, dy }, attrs);
    const actual = runKernelFunc(fastFilterGradient, { x, dy }, attrs);
    assertOutputsClose(actual, expected, TOLERANCE, `case ${caseIndex}: ${describeConvCase(convCase)}`);
    tf.dispose([x, dy]);
  }
});

test('filter gradient with dilations matches forward conv', () => {
  // The original filter gradient kernel ignores dilations, so the reference here comes from the
  // forward Conv2D kernel instead. The convolution is linear in the filter, so the gradient at
  // filter element k is sum(dy * conv2d(x, e_k)), with e_k the filter that is 1 at k and 0 elsewhere.
  const random = createRandom(202);
  const limits = { ...DEFAULT_CONV_LIMITS, maxBatch: 2, maxSize: 8, maxChannels: 3, maxFilterSize: 3, maxDilation: 2 };
  for (let caseIndex = 0; caseIndex < 30; caseIndex++) {
    const convCase = randomConvCase(random, limits);
    const x = randomTensor(random, convCase.xShape);
    const dy = randomTensor(random, convCase.info.outShape);
    const dyValues = dy.dataSync();
    const { strides, pad, dataFormat, dimRoundingMode, dilations, filterShape } = convCase;

    const filterSize = filterShape.reduce((product, dimension) => product * dimension, 1);
    const expected = new Float32Array(filterSize);
    for (let element = 0; element < filterSize; element++) {
      const basis = new Float32Array(filterSize);
      basis[element] = 1;
      const filter = tf.tensor(basis, filterShape);
      const y = runKernelFunc(originalConv2D, { x, filter }, { strides, pad, dataFormat, dilations, dimRoundingMode });
      let sum = 0;
      for (let i = 0; i < dyValues.length; i++) {
        sum += dyValues[i]! * y.values[i]!;
      }
      expected[element] = sum;
      filter.dispose();
    }

    const actual = runKernelFunc(fastFilterGradient, { x, dy }, filterGradientAttrs(convCase));
    assert.deepEqual(actual.shape, filterShape);
    assertAllClose(actual.values, expected, TOLERANCE, `case ${caseIndex}: ${describeConvCase(convCase)}`);
    tf.dispose([x, dy]);
  }
});

test('filter gradient is independent of chunk size', () => {
  const random = createRandom(303);
  for (let caseIndex = 0; caseIndex < 20; caseIndex++) {
    const convCase = randomConvCase(random, { ...DEFAULT_CONV_LIMITS, maxDilation: 2 });
    const geometry = toConvGeometry(convCase.info);
    const xTensor = randomTensor(random, convCase.xShape);
    const dyTensor = randomTensor(random, convCase.info.outShape);
    const x = xTensor.dataSync() as Float32Array;
    const dy = dyTensor.dataSync() as Float32Array;

    const unchunked = computeConv2DFilterGradient(x, dy, geometry);
    for (const maxTempElements of [1, 50, 333]) {
      const chunked = computeConv2DFilterGradient(x, dy, geometry, maxTempElements);
      assertAllClose(chunked, unchunked, 1e-5, `case ${caseIndex} with ${maxTempElements} elements: ${describeConvCase(convCase)}`);
    }
    tf.dispose([xTensor, dyTensor]);
  }
});

test('filter gradient accepts int32 input', () => {
  const random = createRandom(404);
  const convCase = randomConvCase(random);
  const x = tf.tidy(() => randomTensor(random, convCase.xShape).mul(10).round().toInt());
  const dy = randomTensor(random, convCase.info.outShape);
  const attrs = filterGradientAttrs(convCase);

  const expected = runKernelFunc(originalFilterGradient, { x, dy }, attrs);
  const actual = runKernelFunc(fastFilterGradient, { x, dy }, attrs);
  assertOutputsClose(actual, expected, TOLERANCE, describeConvCase(convCase));
  tf.dispose([x, dy]);
});

test('filter gradient rejects dy of wrong shape', () => {
  const x = tf.zeros([1, 5, 5, 2]);
  const dy = tf.zeros([1, 4, 4, 3]);
  const attrs = { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] };
  assert.throws(() => runKernelFunc(fastFilterGradient, { x, dy }, attrs), /input 'dy' has shape \[1, 4, 4, 3\], expected \[1, 3, 3, 3\]/);
  tf.dispose([x, dy]);
});

test('filter gradient rejects missing input', () => {
  const x = tf.zeros([1, 5, 5, 2]);
  const attrs = { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] };
  assert.throws(() => runKernelFunc(fastFilterGradient, { x }, attrs), /missing input 'dy'/);
  x.dispose();
});
