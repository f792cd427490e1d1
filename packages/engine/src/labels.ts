// Converts dataset labels to the form a loss expects: datasets often store class indices
// for a model compiled with categorical crossentropy, or one-hot rows for sparse.
import * as tf from '@tensorflow/tfjs';
import { CentroidError } from '@centroid/contracts';
import { formatShape } from './check-dataset.js';
import type { LabelForm } from './losses.js';

/**
 * Returns `y` in `labelForm` for a model whose output has shape `outputShape` (batch axis
 * included), as a new float32 tensor that the caller disposes.
 *
 * - `one_hot`: class indices (one per output position, with or without a trailing axis
 *   of 1) become one-hot rows. Labels already shaped like the output are kept.
 * - `index`: one-hot rows become their argmax; index labels are kept.
 * - `same_as_output`: labels lacking the output's trailing axis of 1 gain it.
 *
 * Raises DATASET_SHAPE_MISMATCH when `y` fits none of these.
 */
export function prepareLabels(y: tf.Tensor, labelForm: LabelForm, outputShape: readonly (number | null)[]): tf.Tensor {
  return tf.tidy(() => {
    const perSample = y.shape.slice(1);
    const outputPerSample = outputShape.slice(1);
    const classes = outputPerSample[outputPerSample.length - 1] ?? null;
    const positions = outputPerSample.slice(0, -1);
    const isOutputShaped = sameShape(perSample, outputPerSample);
    const isIndexShaped = sameShape(perSample, positions) || sameShape(perSample, [...positions, 1]);

    if (labelForm === 'one_hot') {
      if (isOutputShaped) return tf.cast(y, 'float32');
      if (isIndexShaped && classes !== null && classes > 1) {
        const oneHot = tf.oneHot(tf.cast(tf.reshape(y, [-1]), 'int32'), classes);
        const indexPositions = perSample.slice(0, positions.length);
        return tf.cast(tf.reshape(oneHot, [y.shape[0] as number, ...indexPositions, classes]), 'float32');
      }
    }
    if (labelForm === 'index') {
      if (isIndexShaped) return tf.cast(y, 'float32');
      if (isOutputShaped) return tf.cast(tf.argMax(y, -1), 'float32');
    }
    if (labelForm === 'same_as_output') {
      if (isOutputShaped) return tf.cast(y, 'float32');
      if (classes === 1 && sameShape(perSample, positions)) return tf.cast(tf.expandDims(y, -1), 'float32');
    }

    throw new CentroidError(
      'DATASET_SHAPE_MISMATCH',
      `y has labels of shape ${formatShape(perSample)}, which cannot be made ${labelForm} labels for a model output of shape ${formatShape(outputPerSample)}`,
    );
  });
}

function sameShape(actual: readonly number[], expected: readonly (number | null)[]): boolean {
  return actual.length === expected.length && actual.every((size, axis) => expected[axis] === null || expected[axis] === size);
}
