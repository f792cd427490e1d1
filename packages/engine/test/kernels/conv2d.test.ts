import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { toConvGeometry } from '../../src/kernels/conv-geometry.js';
import {
  computeConv2D,
  computeConv2DInputGradient,
  conv2DBackpropInput,
  createConv2DKernel,
} from '../../src/kernels/index.js';
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

// This file never registers the fast kernels, so these stay the tfjs originals.
const originalConv2D = getCpuKernelFunc(tf.Conv2D);
const originalInputGradient = getCpuKernelFunc(tf.Conv2DBackpropInput);
const fastConv2D = createConv2DKernel(originalConv2D);
const fastInputGradient = conv2DBackpropInput as tf.KernelFunc;

before(async () => {
  await tf.setBackend('cpu');
});

function conv2DAttrs(convCase: ConvCase): object {
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = convCase;
  return { strides, pad, dataFormat, dilations, dimRoundingMode };
}

function inputGradientAttrs(convCase: ConvCase): object {
  return { ...conv2DAttrs(convCase), inputShape: convCase.xShape };
}

test('conv2d matches original kernel', () => {
  const random = createRandom(501);
  for (let caseIndex = 0; caseIndex < 300; caseIndex++) {
    const convCase = randomConvCase(random, { ...DEFAULT_CONV_LIMITS, maxDilation: 2 });
    const x = randomTensor(random, convCase.xShape);
    const filter = randomTensor(random, convCase.filterShape);
    const attrs = conv2DAttrs(convCase);

    const expected = runKernelFunc(originalConv2D, { x, filter }, attrs);
    const actual = runKernelFunc(fastConv2D, { x, filter }, attrs);
    assertOutputsClose(actual, expected, TOLERANCE, `case ${caseIndex}: ${describeConvCase(convCase)}`);
    tf.dispose([x, filter]);
  }
});

test('conv2d is independent of chunk size', () => {
  const random = createRandom(502);
  for (let caseIndex = 0; caseIndex < 20; caseIndex++) {
    const convCase = randomConvCase(random, { ...DEFAULT_CONV_LIMITS, maxDilation: 2 });
    const geometry = toConvGeometry(convCase.info);
    const x = randomTensor(random, convCase.xShape);
    const filter = randomTensor(random, convCase.filterShape);
    const xValues = x.dataSync() as Float32Array;
    const filterValues = filter.dataSync() as Float32Array;

    const unchunked = computeConv2D(xValues, filterValues, geometry);
    for (const maxTempElements of [1, 50, 333]) {
      const chunked = computeConv2D(xValues, filterValues, geometry, maxTempElements);
      assertAllClose(chunked, unchunked, 1e-6, `case ${caseIndex} with ${maxTempElements} elements: ${describeConvCase(convCase)}`);
    }
    tf.dispose([x, filter]);
  }
});

test('conv2d passes int32 input to original kernel', () => {
  const random = createRandom(503);
  const convCase = randomConvCase(random);
  const x = tf.tidy(() => randomTensor(random, convCase.xShape).mul(10).round().toInt());
  const filter = tf.tidy(() => randomTensor(random, convCase.filterShape).mul(10).round().toInt());
  const attrs = conv2DAttrs(convCase);

  const expected = runKernelFunc(originalConv2D, { x, filter }, attrs);
  const actual = runKernelFunc(fastConv2D, { x, filter }, attrs);
  assert.equal(actual.dtype, 'int32');
  assertOutputsClose(actual, expected, 0, describeConvCase(convCase));
  tf.dispose([x, filter]);
});

test('input gradient matches original kernel', () => {
  const random = createRandom(601);
  for (let caseIndex = 0; caseIndex < 300; caseIndex++) {
    const convCase = randomConvCase(random);
    const dy = randomTensor(random, convCase.info.outShape);
    const filter = randomTensor(random, convCase.filterShape);
    const attrs = inputGradientAttrs(convCase);

    const expected = runKernelFunc(originalInputGradient, { dy, filter }, attrs);
    const actual = runKernelFunc(fastInputGradient, { dy, filter }, attrs);
    assertOutputsClose(actual, expected, TOLERANCE, `case ${caseIndex}: ${describeConvCase(convCase)}`);
    tf.dispose([dy, filter]);
  }
});

test('input gradient with dilations matches forward conv', () => {
  // The original input gradient kernel ignores dilations, so the reference here comes from the
  // forward Conv2D kernel instead. The convolution is linear in x, so the gradient at input
  // element i is sum(dy * conv2d(e_i, filter)), with e_i the input that is 1 at i and 0 elsewhere.
  const random = createRandom(602);
  const limits = { ...DEFAULT_CONV_LIMITS, maxBatch: 2, maxSize: 6, maxChannels: 3, maxFilterSize: 3, maxDilation: 2 };
  for (let caseIndex = 0; caseIndex < 30; caseIndex++) {
    const convCase = randomConvCase(random, limits);
    const dy = randomTensor(random, convCase.info.outShape);
    const filter = randomTensor(random, convCase.filterShape);
    const dyValues = dy.dataSync();

    const inputSize = convCase.xShape.reduce((product, dimension) => product * dimension, 1);
    const expected = new Float32Array(inputSize);
    for (let element = 0; element < inputSize; element++) {
      const basis = new Float32Array(inputSize);
      basis[element] = 1;
      const x = tf.tensor(basis, convCase.xShape);
      const y = runKernelFunc(originalConv2D, { x, filter }, conv2DAttrs(convCase));
      let sum = 0;
      for (let i = 0; i < dyValues.length; i++) {
        sum += dyValues[i]! * y.values[i]!;
      }
      expected[element] = sum;
      x.dispose();
    }

    const actual = runKernelFunc(fastInputGradient, { dy, filter }, inputGradientAttrs(convCase));
    assert.deepEqual(actual.shape, convCase.xShape);
    assertAllClose(actual.values, expected, TOLERANCE, `case ${caseIndex}: ${describeConvCase(convCase)}`);
    tf.dispose([dy, filter]);
  }
});

test('input gradient is independent of chunk size', () => {
  const random = createRandom(603);
  for (let caseIndex = 0; caseIndex < 20; caseIndex++) {
    const convCase = randomConvCase(random, { ...DEFAULT_CONV_LIMITS, maxDilation: 2 });
    const geometry = toConvGeometry(convCase.info);
    const dy = randomTensor(random, convCase.info.outShape);
    const filter = randomTensor(random, convCase.filterShape);
    const dyValues = dy.dataSync() as Float32Array;
    const filterValues = filter.dataSync() as Float32Array;

    const unchunked = computeConv2DInputGradient(dyValues, filterValues, geometry);
    for (const maxTempElements of [1, 50, 333]) {
      const chunked = computeConv2DInputGradient(dyValues, filterValues, geometry, maxTempElements);
      assertAllClose(chunked, unchunked, 1e-6, `case ${caseIndex} with ${maxTempElements} elements: ${describeConvCase(convCase)}`);
    }
    tf.dispose([dy, filter]);
  }
});

test('input gradient rejects dy of wrong shape', () => {
  const dy = tf.zeros([1, 4, 4, 3]);
  const filter = tf.zeros([3, 3, 2, 3]);
  const attrs = { strides: 1, pad: 'valid', dataFormat: 'NHWC', inputShape: [1, 5, 5, 2] };
  assert.throws(
    () => runKernelFunc(fastInputGradient, { dy, filter }, attrs),
    /input 'dy' has shape \[1, 4, 4, 3\], expected \[1, 3, 3, 3\]/,
  );
  tf.dispose([dy, filter]);
});
