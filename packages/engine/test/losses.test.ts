import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { CentroidError } from '@centroid/contracts';
import { computeLoss, resolveLoss, type LossSpec } from '../src/losses.js';
import { useTestBackend } from './fixtures.js';

function isLossUnsupported(pattern: RegExp): (error: unknown) => boolean {
  return (error: unknown) => error instanceof CentroidError && error.code === 'LOSS_UNSUPPORTED' && pattern.test(error.message);
}

function lossValues(spec: LossSpec, yTrue: number[][], yPred: number[][]): number[] {
  return tf.tidy(() => [...computeLoss(spec, tf.tensor2d(yTrue), tf.tensor2d(yPred)).dataSync()]);
}

function assertClose(actual: number[], expected: number[], tolerance = 1e-5): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((value, i) => assert.ok(Math.abs(value - (expected[i] as number)) < tolerance, `entry ${i}: ${value} vs ${expected[i]}`));
}

describe('loss resolution', () => {
  it('reads every supported name and alias', () => {
    const cases: [string, string][] = [
      ['categorical_crossentropy', 'categorical_crossentropy'],
      ['sparse_categorical_crossentropy', 'sparse_categorical_crossentropy'],
      ['binary_crossentropy', 'binary_crossentropy'],
      ['mse', 'mean_squared_error'],
      ['mean_squared_error', 'mean_squared_error'],
      ['MeanSquaredError', 'mean_squared_error'],
      ['mae', 'mean_absolute_error'],
      ['mean_absolute_error', 'mean_absolute_error'],
    ];
    for (const [given, expected] of cases) {
      assert.equal(resolveLoss({ loss: given })?.name, expected, given);
    }
  });

  it('reads a serialized loss object', () => {
    const spec = resolveLoss({
      loss: { class_name: 'CategoricalCrossentropy', config: { from_logits: true, label_smoothing: 0.1, reduction: 'auto', name: 'cce' } },
    });
    assert.equal(spec?.name, 'categorical_crossentropy');
    assert.equal(spec?.fromLogits, true);
    assert.equal(spec?.labelSmoothing, 0.1);
  });

  it('reads Keras 3 function losses', () => {
    assert.equal(resolveLoss({ loss: { module: 'keras.losses', class_name: 'function', config: 'mse', registered_name: 'function' } })?.name, 'mean_squared_error');
  });

  it('reads JSON text and one-output lists', () => {
    assert.equal(resolveLoss('{"loss": ["binary_crossentropy"]}')?.name, 'binary_crossentropy');
    assert.equal(resolveLoss({ loss: { dense_2: 'mae' } })?.name, 'mean_absolute_error');
  });

  it('gives each loss its label form', () => {
    assert.equal(resolveLoss({ loss: 'categorical_crossentropy' })?.labelForm, 'one_hot');
    assert.equal(resolveLoss({ loss: 'sparse_categorical_crossentropy' })?.labelForm, 'index');
    assert.equal(resolveLoss({ loss: 'binary_crossentropy' })?.labelForm, 'same_as_output');
    assert.equal(resolveLoss({ loss: 'mse' })?.labelForm, 'same_as_output');
  });

  it('returns null without a training config or loss', () => {
    assert.equal(resolveLoss(null), null);
    assert.equal(resolveLoss(undefined), null);
    assert.equal(resolveLoss({ metrics: ['accuracy'] }), null);
  });

  it('rejects an unknown loss by name', () => {
    assert.throws(() => resolveLoss({ loss: 'hinge' }), isLossUnsupported(/'hinge' is not supported/));
    assert.throws(() => resolveLoss({ loss: { class_name: 'Huber', config: {} } }), isLossUnsupported(/'Huber'/));
  });

  it('rejects a loss per output', () => {
    assert.throws(() => resolveLoss({ loss: { a: 'mse', b: 'mae' } }), isLossUnsupported(/2 entries/));
  });

  it('rejects options it does not implement', () => {
    assert.throws(() => resolveLoss({ loss: { class_name: 'MeanSquaredError', config: { reduction: 'sum' } } }), isLossUnsupported(/reduction/));
    assert.throws(
      () => resolveLoss({ loss: { class_name: 'SparseCategoricalCrossentropy', config: { ignore_class: 0 } } }),
      isLossUnsupported(/ignore_class/),
    );
  });

  it('rejects a training config that is not JSON', () => {
    assert.throws(() => resolveLoss('{loss'), (error: unknown) => error instanceof CentroidError && error.code === 'MODEL_INVALID');
  });
});

describe('accuracy resolution', () => {
  it('follows the Keras shape rule for accuracy', () => {
    const accuracy = (loss: string, shape: (number | null)[]): string | undefined =>
      resolveLoss({ loss, metrics: ['accuracy'] }, shape)?.accuracy?.metric;
    assert.equal(accuracy('categorical_crossentropy', [null, 10]), 'categorical_accuracy');
    assert.equal(accuracy('sparse_categorical_crossentropy', [null, 10]), 'sparse_categorical_accuracy');
    assert.equal(accuracy('binary_crossentropy', [null, 1]), 'binary_accuracy');
    assert.equal(accuracy('binary_crossentropy', [null, 5]), 'categorical_accuracy');
    assert.equal(accuracy('sparse_categorical_crossentropy', [null, 1]), 'binary_accuracy');
  });

  it('falls back on the loss without a shape', () => {
    assert.equal(resolveLoss({ loss: 'binary_crossentropy', metrics: ['acc'] })?.accuracy?.metric, 'binary_accuracy');
    assert.equal(resolveLoss({ loss: 'sparse_categorical_crossentropy' })?.accuracy?.metric, 'sparse_categorical_accuracy');
  });

  it('uses an explicit accuracy metric and its threshold', () => {
    const spec = resolveLoss({ loss: 'binary_crossentropy', metrics: [[{ class_name: 'BinaryAccuracy', config: { threshold: 0.7 } }]] }, [null, 1]);
    assert.deepEqual(spec?.accuracy, { metric: 'binary_accuracy', threshold: 0.7 });
  });

  it('reports no accuracy for regression losses', () => {
    assert.equal(resolveLoss({ loss: 'mse', metrics: ['accuracy'] }, [null, 1])?.accuracy, null);
    assert.equal(resolveLoss({ loss: 'mae' })?.accuracy, null);
  });
});

describe('loss computation', () => {
  before(async () => {
    await useTestBackend();
  });

  const spec = (name: string, options: Partial<LossSpec> = {}): LossSpec => ({ ...(resolveLoss({ loss: name }) as LossSpec), ...options });

  it('computes categorical crossentropy with clipping', () => {
    const values = lossValues(spec('categorical_crossentropy'), [[0, 1, 0], [1, 0, 0]], [[0.2, 0.7, 0.1], [0, 0.5, 0.5]]);
    // The second sample predicts 0 for its class, clipped to 1e-7.
    assertClose(values, [-Math.log(0.7), -Math.log(1e-7)], 1e-3);
  });

  it('normalises probabilities that do not sum to one', () => {
    assertClose(lossValues(spec('categorical_crossentropy'), [[1, 0]], [[0.2, 0.6]]), [-Math.log(0.25)]);
  });

  it('computes categorical crossentropy from logits', () => {
    const logits = [2, 0.5, -1];
    const total = logits.reduce((sum, z) => sum + Math.exp(z), 0);
    assertClose(lossValues(spec('categorical_crossentropy', { fromLogits: true }), [[0, 1, 0]], [logits]), [-Math.log(Math.exp(0.5) / total)]);
  });

  it('smooths categorical labels', () => {
    // Labels [0, 1] become [0.05, 0.95] with smoothing 0.1 over 2 classes.
    const expected = -(0.05 * Math.log(0.4) + 0.95 * Math.log(0.6));
    assertClose(lossValues(spec('categorical_crossentropy', { labelSmoothing: 0.1 }), [[0, 1]], [[0.4, 0.6]]), [expected]);
  });

  it('computes sparse categorical crossentropy', () => {
    const values = tf.tidy(() => [
      ...computeLoss(spec('sparse_categorical_crossentropy'), tf.tensor1d([1, 2]), tf.tensor2d([[0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])).dataSync(),
    ]);
    assertClose(values, [-Math.log(0.7), -Math.log(0.4)]);
  });

  it('computes binary crossentropy as Keras 2 does', () => {
    const eps = 1e-7;
    const expected = -(Math.log(0.8 + eps) + Math.log(1 - 0.3 + eps)) / 2;
    assertClose(lossValues(spec('binary_crossentropy'), [[1, 0]], [[0.8, 0.3]]), [expected]);
  });

  it('computes binary crossentropy from logits', () => {
    const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
    const expected = -(Math.log(sigmoid(1.5)) + Math.log(1 - sigmoid(-2))) / 2;
    assertClose(lossValues(spec('binary_crossentropy', { fromLogits: true }), [[1, 0]], [[1.5, -2]]), [expected]);
  });

  it('computes mean squared and absolute error per sample', () => {
    assertClose(lossValues(spec('mse'), [[1, 2], [0, 0]], [[2, 4], [1, -1]]), [2.5, 1]);
    assertClose(lossValues(spec('mae'), [[1, 2], [0, 0]], [[2, 4], [1, -1]]), [1.5, 1]);
  });
});
