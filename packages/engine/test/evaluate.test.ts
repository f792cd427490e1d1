import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { CentroidError } from '@centroid/contracts';
import { evaluate } from '../src/evaluate.js';
import { resolveLoss, type LossSpec } from '../src/losses.js';
import { CATEGORICAL, useTestBackend } from './fixtures.js';

/** Returns a model whose output is softmax(x): Dense with an identity kernel and zero bias. */
function softmaxOfInput(kernelRegularizer?: ReturnType<typeof tf.regularizers.l2>): tf.Sequential {
  const model = tf.sequential();
  model.add(tf.layers.dense({ units: 3, inputShape: [3], activation: 'softmax', kernelRegularizer }));
  model.layers[0]!.setWeights([tf.eye(3), tf.zeros([3])]);
  return model;
}

function softmax(row: number[]): number[] {
  const exps = row.map(Math.exp);
  const total = exps.reduce((sum, value) => sum + value, 0);
  return exps.map((value) => value / total);
}

// Five samples; the argmax of rows 0, 1 and 3 matches the label, rows 2 and 4 do not.
const INPUTS = [
  [2, 0, 0],
  [0, 1, -1],
  [0.5, 0, 0.2],
  [0, 0, 3],
  [-1, 0.4, 0],
];
const LABELS = [0, 1, 2, 2, 0];

function handCrossentropy(): number {
  const losses = INPUTS.map((row, i) => -Math.log(softmax(row)[LABELS[i] as number] as number));
  return losses.reduce((sum, value) => sum + value, 0) / losses.length;
}

function oneHot(labels: number[], classes: number): tf.Tensor2D {
  return tf.tensor2d(labels.map((label) => Array.from({ length: classes }, (_, k) => (k === label ? 1 : 0))));
}

describe('evaluation', () => {
  before(async () => {
    await useTestBackend();
  });

  it('matches hand-computed crossentropy and accuracy', async () => {
    const model = softmaxOfInput();
    const x = tf.tensor2d(INPUTS);
    const y = oneHot(LABELS, 3);
    // Batches of 2, 2 and 1 sample: the mean must weight the last batch by its size.
    const result = await evaluate(model, x, y, CATEGORICAL, 2);

    assert.ok(Math.abs(result.loss - handCrossentropy()) < 1e-6, `loss ${result.loss} vs ${handCrossentropy()}`);
    assert.equal(result.accuracy, 3 / 5);
    assert.equal(result.samples, 5);
    tf.dispose([x, y]);
  });

  it('gives the same result for any batch size', async () => {
    const model = softmaxOfInput();
    const x = tf.tensor2d(INPUTS);
    const y = oneHot(LABELS, 3);
    const whole = await evaluate(model, x, y, CATEGORICAL, 5);
    const single = await evaluate(model, x, y, CATEGORICAL, 1);
    assert.ok(Math.abs(whole.loss - single.loss) < 1e-6);
    assert.equal(whole.accuracy, single.accuracy);
    tf.dispose([x, y]);
  });

  it('accepts sparse labels with sparse accuracy', async () => {
    const model = softmaxOfInput();
    const x = tf.tensor2d(INPUTS);
    const y = tf.tensor1d(LABELS);
    const spec = resolveLoss({ loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] }, [null, 3]) as LossSpec;
    const result = await evaluate(model, x, y, spec, 2);
    assert.ok(Math.abs(result.loss - handCrossentropy()) < 1e-6);
    assert.equal(result.accuracy, 3 / 5);
    tf.dispose([x, y]);
  });

  it('adds regularization losses like Keras', async () => {
    const model = softmaxOfInput(tf.regularizers.l2({ l2: 0.01 }));
    const x = tf.tensor2d(INPUTS);
    const y = oneHot(LABELS, 3);
    const result = await evaluate(model, x, y, CATEGORICAL, 2);
    // The identity kernel has three ones: 0.01 · 3.
    assert.ok(Math.abs(result.loss - (handCrossentropy() + 0.03)) < 1e-6, `loss ${result.loss}`);
    tf.dispose([x, y]);
  });

  it('reports progress per batch and leaks no tensors', async () => {
    const model = softmaxOfInput();
    const x = tf.tensor2d(INPUTS);
    const y = oneHot(LABELS, 3);
    const progress: string[] = [];
    const before = tf.memory().numTensors;
    await evaluate(model, x, y, CATEGORICAL, 2, ({ batch, batches }) => progress.push(`${batch}/${batches}`));
    assert.deepEqual(progress, ['1/3', '2/3', '3/3']);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, y]);
  });

  it('stops with JOB_CANCELED when the signal is aborted', async () => {
    const model = softmaxOfInput();
    const x = tf.tensor2d(INPUTS);
    const y = oneHot(LABELS, 3);
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      evaluate(model, x, y, CATEGORICAL, 2, undefined, controller.signal),
      (error: unknown) => error instanceof CentroidError && error.code === 'JOB_CANCELED',
    );
    tf.dispose([x, y]);
  });

  it('rejects inputs of the wrong shape', async () => {
    const model = softmaxOfInput();
    const x = tf.zeros([5, 4]);
    const y = oneHot(LABELS, 3);
    await assert.rejects(
      evaluate(model, x, y, CATEGORICAL, 2),
      (error: unknown) => error instanceof CentroidError && error.code === 'DATASET_SHAPE_MISMATCH' && /\[4\].*\[3\]/.test(error.message),
    );
    tf.dispose([x, y]);
  });

  it('rejects a sample count mismatch', async () => {
    const model = softmaxOfInput();
    const x = tf.tensor2d(INPUTS);
    const y = oneHot([0, 1], 3);
    await assert.rejects(evaluate(model, x, y, CATEGORICAL, 2), /x contains 5 samples but y contains 2/);
    tf.dispose([x, y]);
  });

  it('rejects a class index out of range', async () => {
    const model = softmaxOfInput();
    const x = tf.tensor2d(INPUTS);
    const y = tf.tensor1d([0, 1, 3, 2, 0]);
    const spec = resolveLoss({ loss: 'sparse_categorical_crossentropy' }) as LossSpec;
    await assert.rejects(
      evaluate(model, x, y, spec, 2),
      (error: unknown) => error instanceof CentroidError && error.code === 'DATASET_INVALID' && /3 at flat index 2/.test(error.message),
    );
    tf.dispose([x, y]);
  });
});
