import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { CentroidError } from '@centroid/contracts';
import { prepareLabels } from '../src/labels.js';
import { useTestBackend } from './fixtures.js';

function prepared(y: tf.Tensor, form: 'one_hot' | 'index' | 'same_as_output', outputShape: (number | null)[]): { shape: number[]; values: number[] } {
  const result = prepareLabels(y, form, outputShape);
  const summary = { shape: result.shape, values: [...result.dataSync()] };
  tf.dispose([y, result]);
  return summary;
}

describe('label preparation', () => {
  before(async () => {
    await useTestBackend();
  });

  it('turns class indices into one-hot rows', () => {
    assert.deepEqual(prepared(tf.tensor1d([2, 0], 'int32'), 'one_hot', [null, 3]), { shape: [2, 3], values: [0, 0, 1, 1, 0, 0] });
    assert.deepEqual(prepared(tf.tensor2d([[1], [0]]), 'one_hot', [null, 2]), { shape: [2, 2], values: [0, 1, 1, 0] });
  });

  it('turns one-hot rows into class indices', () => {
    assert.deepEqual(prepared(tf.tensor2d([[0, 1, 0], [0, 0, 1]]), 'index', [null, 3]), { shape: [2], values: [1, 2] });
  });

  it('keeps labels already in form as float32', () => {
    const result = prepareLabels(tf.tensor1d([1, 0], 'int32'), 'index', [null, 4]);
    assert.equal(result.dtype, 'float32');
    assert.deepEqual([...result.dataSync()], [1, 0]);
    result.dispose();
  });

  it('adds the trailing axis of a single output', () => {
    assert.deepEqual(prepared(tf.tensor1d([1, 0, 1]), 'same_as_output', [null, 1]), { shape: [3, 1], values: [1, 0, 1] });
  });

  it('rejects labels of another shape', () => {
    assert.throws(
      () => prepareLabels(tf.tensor2d([[1, 0]]), 'one_hot', [null, 3]),
      (error: unknown) => error instanceof CentroidError && error.code === 'DATASET_SHAPE_MISMATCH' && /\[2\]/.test(error.message),
    );
  });
});
