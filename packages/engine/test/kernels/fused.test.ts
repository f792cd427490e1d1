import { before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { createFusedConv2DKernel, createFusedMatMulKernel } from '../../src/kernels/index.js';
import {
  DEFAULT_CONV_LIMITS,
  assertOutputsClose,
  createRandom,
  describeConvCase,
  getCpuKernelFunc,
  pick,
  randomConvCase,
  randomInt,
  randomTensor,
  runKernelFunc,
} from './helpers.js';

const TOLERANCE = 1e-4;
const ACTIVATIONS = [null, 'linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const;
const BIAS_KINDS = ['none', 'scalar', 'per-channel'] as const;

// This file never registers the fast kernels, so these stay the tfjs originals.
const originalFusedConv2D = getCpuKernelFunc(tf.FusedConv2D);
const originalFusedMatMul = getCpuKernelFunc(tf._FusedMatMul);
const fastFusedConv2D = createFusedConv2DKernel(originalFusedConv2D);
const fastFusedMatMul = createFusedMatMulKernel(originalFusedMatMul);

before(async () => {
  await tf.setBackend('cpu');
});

/** Adds a random bias and prelu weights (when the activation is prelu) to `inputs`. */
function addEpilogueInputs(
  random: () => number,
  inputs: Record<string, tf.Tensor>,
  biasKind: (typeof BIAS_KINDS)[number],
  activation: (typeof ACTIVATIONS)[number],
  channels: number,
): void {
  if (biasKind === 'scalar') {
    inputs.bias = randomTensor(random, [1]);
  } else if (biasKind === 'per-channel') {
    inputs.bias = randomTensor(random, [channels]);
  }
  if (activation === 'prelu') {
    inputs.preluActivationWeights = randomTensor(random, [channels]);
  }
}

test('fused conv2d matches original kernel', () => {
  const random = createRandom(1101);
  for (let caseIndex = 0; caseIndex < 200; caseIndex++) {
    const convCase = randomConvCase(random, { ...DEFAULT_CONV_LIMITS, maxDilation: 2 });
    const activation = ACTIVATIONS[caseIndex % ACTIVATIONS.length]!;
    const biasKind = pick(random, BIAS_KINDS);
    const { strides, pad, dataFormat, dilations, dimRoundingMode } = convCase;
    // The original applies prelu weights by plain broadcasting, which matches channels only in NHWC.
    if (activation === 'prelu' && dataFormat === 'NCHW') {
      continue;
    }

    const inputs: Record<string, tf.Tensor> = {
      x: randomTensor(random, convCase.xShape),
      filter: randomTensor(random, convCase.filterShape),
    };
    addEpilogueInputs(random, inputs, biasKind, activation, convCase.filterShape[3]);
    const attrs = { strides, pad, dataFormat, dilations, dimRoundingMode, activation, leakyreluAlpha: 0.3 };
    const message = `case ${caseIndex}: ${describeConvCase(convCase)} bias ${biasKind} activation ${activation}`;

    const expected = runKernelFunc(originalFusedConv2D, inputs, attrs);
    const actual = runKernelFunc(fastFusedConv2D, inputs, attrs);
    assertOutputsClose(actual, expected, TOLERANCE, message);
    tf.dispose(Object.values(inputs));
  }
});

test('fused matmul matches original kernel', () => {
  const random = createRandom(1102);
  for (let caseIndex = 0; caseIndex < 160; caseIndex++) {
    const rows = randomInt(random, 1, 9);
    const cols = randomInt(random, 1, 9);
    const depth = randomInt(random, 1, 40);
    const transposeA = random() < 0.5;
    const transposeB = random() < 0.5;
    const activation = ACTIVATIONS[caseIndex % ACTIVATIONS.length]!;
    const biasKind = pick(random, BIAS_KINDS);

    const inputs: Record<string, tf.Tensor> = {
      a: randomTensor(random, transposeA ? [depth, rows] : [rows, depth]),
      b: randomTensor(random, transposeB ? [cols, depth] : [depth, cols]),
    };
    addEpilogueInputs(random, inputs, biasKind, activation, cols);
    const attrs = { transposeA, transposeB, activation, leakyreluAlpha: 0.3 };
    const message =
      `case ${caseIndex}: a [${inputs.a!.shape.join(',')}] b [${inputs.b!.shape.join(',')}] ` +
      `transposeA=${transposeA} transposeB=${transposeB} bias ${biasKind} activation ${activation}`;

    const expected = runKernelFunc(originalFusedMatMul, inputs, attrs);
    const actual = runKernelFunc(fastFusedMatMul, inputs, attrs);
    assertOutputsClose(actual, expected, TOLERANCE, message);
    tf.dispose(Object.values(inputs));
  }
});
