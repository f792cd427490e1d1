// Checks that samples and labels fit a model and its loss before any batch runs, so a
// bad dataset fails with a message that names the mismatch instead of a tensor error.
import type * as tf from '@tensorflow/tfjs';
import { CentroidError } from '@centroid/contracts';
import type { LossSpec } from './losses.js';

type Shape = readonly (number | null)[];

/** Returns the single input and output shape of `model`, batch axis included. */
export function singleInputOutputShapes(model: tf.LayersModel): { input: Shape; output: Shape } {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new CentroidError(
      'DATASET_SHAPE_MISMATCH',
      `model ${model.name} has ${model.inputs.length} inputs and ${model.outputs.length} outputs; training and evaluation support one of each`,
    );
  }
  return { input: (model.inputs[0] as tf.SymbolicTensor).shape, output: (model.outputs[0] as tf.SymbolicTensor).shape };
}

/**
 * Raises DATASET_SHAPE_MISMATCH unless `x` fits the model's input, `y` fits its output
 * in the loss's label form, and both hold the same number of samples, and
 * DATASET_INVALID when an index label is not a class index of the output.
 */
export function checkDataset(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor, loss: LossSpec): void {
  const { input, output } = singleInputOutputShapes(model);

  if (x.shape[0] !== y.shape[0]) {
    throw new CentroidError(
      'DATASET_SHAPE_MISMATCH',
      `x contains ${x.shape[0]} samples but y contains ${y.shape[0]}, and both must contain the same number`,
    );
  }
  if (!shapeFits(x.shape.slice(1), input.slice(1))) {
    throw new CentroidError(
      'DATASET_SHAPE_MISMATCH',
      `x has samples of shape ${formatShape(x.shape.slice(1))} but the model input expects ${formatShape(input.slice(1))}`,
    );
  }

  const outputPerSample = output.slice(1);
  const expectedLabels: Shape[] =
    loss.labelForm === 'index' ? [outputPerSample.slice(0, -1), [...outputPerSample.slice(0, -1), 1]] : [outputPerSample];
  if (!expectedLabels.some((expected) => shapeFits(y.shape.slice(1), expected))) {
    const expectedText = expectedLabels.map(formatShape).join(' or ');
    throw new CentroidError(
      'DATASET_SHAPE_MISMATCH',
      `y has labels of shape ${formatShape(y.shape.slice(1))} but ${loss.name} expects ${loss.labelForm} labels of shape ${expectedText}`,
    );
  }

  if (loss.labelForm === 'index') {
    checkClassIndices(y, output[output.length - 1] ?? null);
  }
}

function checkClassIndices(y: tf.Tensor, classes: number | null): void {
  const labels = y.dataSync();
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] as number;
    if (!Number.isInteger(label) || label < 0 || (classes !== null && label >= classes)) {
      const range = classes === null ? 'a non-negative integer' : `an integer from 0 to ${classes - 1}`;
      throw new CentroidError('DATASET_INVALID', `y contains ${label} at flat index ${i}, but a class index must be ${range}`);
    }
  }
}

function shapeFits(actual: readonly number[], expected: Shape): boolean {
  return actual.length === expected.length && actual.every((size, axis) => expected[axis] === null || expected[axis] === size);
}

export function formatShape(shape: Shape): string {
  return `[${shape.map((size) => (size === null ? 'any' : String(size))).join(', ')}]`;
}
