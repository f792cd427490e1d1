import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { registerFastCpuKernels } from '../../src/kernels/index.js';
import { assertAllClose, createRandom, randomTensor } from './helpers.js';

const REPLACED_KERNELS = [
  tf.Conv2DBackpropFilter,
  tf.Conv2DBackpropInput,
  tf.Conv2D,
  tf.MaxPoolGrad,
  tf.BatchMatMul,
  tf.Sum,
  tf.FusedConv2D,
  tf._FusedMatMul,
];

// Captured before any test registers the fast kernels.
const originalKernelFuncs = REPLACED_KERNELS.map((name) => tf.getKernel(name, 'cpu')?.kernelFunc);

before(async () => {
  await tf.setBackend('cpu');
});

/**
 * Builds a small CNN that uses every replaced kernel in training: strided 'same' and 'valid'
 * convolutions, overlapping max pooling, and dense layers with biases. In tfjs 4.22.0 the layers
 * with relu activation run the unfused kernels during training and the layers with linear or
 * softmax activation run FusedConv2D and _FusedMatMul.
 */
function buildSmallCnn(): tf.Sequential {
  let seed = 11;
  const kernelInitializer = (): ReturnType<typeof tf.initializers.glorotUniform> => tf.initializers.glorotUniform({ seed: seed++ });
  const biasInitializer = (): ReturnType<typeof tf.initializers.randomUniform> =>
    tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: seed++ });

  const model = tf.sequential();
  model.add(
    tf.layers.conv2d({
      inputShape: [11, 11, 2],
      filters: 5,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: kernelInitializer(),
      biasInitializer: biasInitializer(),
    }),
  );
  model.add(tf.layers.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same' }));
  model.add(
    tf.layers.conv2d({
      filters: 7,
      kernelSize: [2, 3],
      activation: 'linear',
      kernelInitializer: kernelInitializer(),
      biasInitializer: biasInitializer(),
    }),
  );
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 9, activation: 'relu', kernelInitializer: kernelInitializer() }));
  model.add(tf.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: kernelInitializer() }));
  return model;
}

/** Returns the loss and the gradient of every trainable weight, by weight name. */
function computeGradients(model: tf.Sequential, xs: tf.Tensor, ys: tf.Tensor): { loss: number; grads: Map<string, Float32Array> } {
  const variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(
    () => tf.metrics.categoricalCrossentropy(ys, model.apply(xs, { training: true }) as tf.Tensor).mean() as tf.Scalar,
    variables,
  );
  const byName = new Map<string, Float32Array>();
  for (const variable of variables) {
    const grad = grads[variable.name];
    assert.ok(grad, `gradient of ${variable.name}`);
    byName.set(variable.name, grad.dataSync().slice() as Float32Array);
  }
  const loss = value.dataSync()[0]!;
  tf.dispose([value, ...Object.values(grads)]);
  return { loss, grads: byName };
}

/** Returns the names of the kernels that `run` executes. */
async function kernelsRunBy(run: () => void): Promise<Set<string>> {
  const profile = await tf.profile(run);
  return new Set(profile.kernels.map((kernel) => kernel.name));
}

function predict(model: tf.Sequential, xs: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.predict(xs) as tf.Tensor).dataSync().slice() as Float32Array);
}

test('fast kernels keep small CNN outputs', async () => {
  const random = createRandom(1001);
  const model = buildSmallCnn();
  const xs = randomTensor(random, [3, 11, 11, 2]);
  const labels = tf.tensor1d([0, 3, 1], 'int32');
  const ys = tf.oneHot(labels, 4).toFloat();

  const before = computeGradients(model, xs, ys);
  const predictionsBefore = predict(model, xs);
  registerFastCpuKernels();
  let after = before;
  const trainingKernels = await kernelsRunBy(() => {
    after = computeGradients(model, xs, ys);
  });
  let predictionsAfter = predictionsBefore;
  const predictionKernels = await kernelsRunBy(() => {
    predictionsAfter = predict(model, xs);
  });

  for (const name of REPLACED_KERNELS) {
    assert.ok(trainingKernels.has(name), `the gradient computation did not run ${name}`);
  }
  assert.ok(predictionKernels.has(tf.FusedConv2D), 'predict did not run FusedConv2D');
  assert.ok(predictionKernels.has(tf._FusedMatMul), 'predict did not run _FusedMatMul');

  assert.ok(Math.abs(after.loss - before.loss) <= 1e-5 * Math.abs(before.loss), `loss ${after.loss} vs ${before.loss}`);
  assert.deepEqual([...after.grads.keys()], [...before.grads.keys()]);
  for (const [name, expected] of before.grads) {
    assertAllClose(after.grads.get(name)!, expected, 1e-4, name);
  }
  assertAllClose(predictionsAfter, predictionsBefore, 1e-5, 'predictions');

  tf.dispose([xs, labels, ys]);
  model.dispose();
});

test('registration returns replaced kernel names', () => {
  const replaced = registerFastCpuKernels();
  assert.deepEqual(replaced, REPLACED_KERNELS);
  REPLACED_KERNELS.forEach((name, index) => {
    const kernelFunc = tf.getKernel(name, 'cpu')?.kernelFunc;
    assert.ok(kernelFunc, name);
    assert.notEqual(kernelFunc, originalKernelFuncs[index], name);
  });
});

test('registration is idempotent', () => {
  registerFastCpuKernels();
  const installed = REPLACED_KERNELS.map((name) => tf.getKernel(name, 'cpu')?.kernelFunc);
  const replacedAgain = registerFastCpuKernels();

  assert.deepEqual(replacedAgain, REPLACED_KERNELS);
  REPLACED_KERNELS.forEach((name, index) => {
    assert.equal(tf.getKernel(name, 'cpu')?.kernelFunc, installed[index], name);
  });
});
