// Loss and accuracy of a model on a dataset, computed batch by batch the way Keras'
// `model.evaluate` reports them.
import * as tf from '@tensorflow/tfjs';
import { CentroidError } from '@centroid/contracts';
import { computeAccuracy } from './accuracy.js';
import { throwIfCanceled, yieldToEventLoop } from './cancellation.js';
import { checkDataset } from './check-dataset.js';
import { computeLoss, type LossSpec } from './losses.js';
import { regularizationTerms } from './regularization.js';

export interface Evaluation {
  /** Mean loss over all samples, plus the model's regularization losses, as Keras reports it. */
  loss: number;
  /** Mean accuracy over all samples, or null when the loss has no accuracy metric. */
  accuracy: number | null;
  samples: number;
}

export interface EvaluationProgress {
  /** 1-based. */
  batch: number;
  batches: number;
}

/**
 * Evaluates `model` on `x` and labels `y` (already in `loss.labelForm`; see
 * `prepareLabels`), in batches of `batchSize` in dataset order and in inference mode.
 *
 * Each batch contributes its mean loss weighted by its size, so the result is the exact
 * mean over samples. Like Keras, the loss includes the regularization losses of the
 * layers (L1/L2 on kernels), which do not depend on the data and are added once.
 * Raises DATASET_SHAPE_MISMATCH or DATASET_INVALID for data that does not fit the model,
 * and JOB_CANCELED between batches once `signal` is aborted.
 */
export async function evaluate(
  model: tf.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  loss: LossSpec,
  batchSize: number,
  onBatch?: (progress: EvaluationProgress) => void,
  signal?: AbortSignal,
): Promise<Evaluation> {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  }
  checkDataset(model, x, y, loss);
  const samples = x.shape[0] as number;
  if (samples === 0) {
    throw new CentroidError('DATASET_SHAPE_MISMATCH', 'x is empty, so there is nothing to evaluate; provide at least one sample');
  }

  const batches = Math.ceil(samples / batchSize);
  let lossSum = 0;
  let correctSum = 0;
  let accuracyCount = 0;

  for (let batch = 0; batch < batches; batch++) {
    throwIfCanceled(signal);
    const start = batch * batchSize;
    const size = Math.min(batchSize, samples - start);

    const [batchLoss, batchCorrect, batchCount] = tf.tidy(() => {
      const xBatch = tf.slice(x, start, size);
      const yBatch = tf.slice(y, start, size);
      const prediction = model.apply(xBatch, { training: false }) as tf.Tensor;
      const lossValue = tf.mean(computeLoss(loss, yBatch, prediction)).dataSync()[0] as number;
      if (loss.accuracy === null) return [lossValue, 0, 0];

      const matches = computeAccuracy(loss.accuracy, yBatch, prediction);
      return [lossValue, tf.sum(matches).dataSync()[0] as number, matches.size];
    });

    lossSum += batchLoss * size;
    correctSum += batchCorrect;
    accuracyCount += batchCount;
    onBatch?.({ batch: batch + 1, batches });
    await yieldToEventLoop();
  }

  return {
    loss: lossSum / samples + regularizationLoss(model),
    accuracy: loss.accuracy === null ? null : correctSum / accuracyCount,
    samples,
  };
}

/** Returns the sum of the layers' regularization losses (0 when there are none). */
export function regularizationLoss(model: tf.LayersModel): number {
  return tf.tidy(() => {
    const losses = regularizationTerms(model);
    return losses.length === 0 ? 0 : (tf.addN(losses).dataSync()[0] as number);
  });
}
