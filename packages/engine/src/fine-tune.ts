// Clustered fine-tuning, the way `model.fit` trains a TFMOT-clustered model. A custom
// training loop runs the model's forward pass with the clustered weights and updates the
// latent weights and centroids, and by default every other trainable weight, with Adam.
import * as tf from '@tensorflow/tfjs';
import { CentroidError } from '@centroid/contracts';
import { throwIfCanceled, yieldToEventLoop } from './cancellation.js';
import { checkDataset } from './check-dataset.js';
import type { ClusteringSession } from './clustering-session.js';
import { evaluate, type Evaluation } from './evaluate.js';
import { meanLoss, type LossSpec } from './losses.js';
import { regularizationTerms } from './regularization.js';
import { createRandom, shuffleInPlace } from './random.js';

export interface FineTuneData {
  /** Samples, batch axis first. */
  x: tf.Tensor;
  /** Labels in `loss.labelForm` (see `prepareLabels`), batch axis first. */
  y: tf.Tensor;
}

export interface BatchProgress {
  /** 1-based. */
  epoch: number;
  epochs: number;
  /** 1-based. */
  batch: number;
  batches: number;
  /** Loss of this batch before its update, regularization included. */
  loss: number;
}

export interface EpochSummary {
  /** 1-based. */
  epoch: number;
  /** Mean training loss over the epoch's batches, weighted by batch size (Keras' `loss`). */
  loss: number;
  /** Loss and accuracy on the held-out samples after the epoch, or null without validation_split. */
  validation: Evaluation | null;
}

export interface FineTuneOptions {
  /** Passes over the training samples. With 0 the function returns at once. */
  epochs: number;
  /** Samples per gradient step. The last batch of an epoch may be smaller. */
  batchSize: number;
  /** Adam learning rate. */
  learningRate: number;
  /** Seed of the per-epoch shuffle. */
  seed: number;
  /** Fraction of samples held out for validation, taken from the end before shuffling as Keras does. @defaultValue 0 */
  validationSplit?: number;
  loss: LossSpec;
  /**
   * Whether weights that are not clustered (biases, normalization scales, skipped
   * kernels) train too. True matches TFMOT, where `model.fit` trains every trainable
   * weight. False leaves their values unchanged, except the moving statistics of
   * BatchNormalization, which training mode updates either way. @defaultValue true
   */
  trainUnclusteredWeights?: boolean;
  onBatch?: (progress: BatchProgress) => void;
  onEpoch?: (summary: EpochSummary) => void;
  /** Aborting it stops the loop before the next batch with JOB_CANCELED. */
  signal?: AbortSignal;
}

export interface FineTuneResult {
  /** Gradient steps taken. */
  steps: number;
  /** Training loss of the last epoch (see {@link EpochSummary.loss}), or null when no epoch ran. */
  finalLoss: number | null;
  trainSamples: number;
  validationSamples: number;
  epochs: EpochSummary[];
}

// Keras' Adam defaults.
// NOTE: tf.train.adam adds epsilon to sqrt(v̂), after bias correction, but Keras adds it
// to sqrt(v) before. Keras' form equals an epsilon of ε/sqrt(1 − β2^t), about 30 times
// larger at the first step, so the two differ for gradients not far above 1e-6.
const ADAM_BETA_1 = 0.9;
const ADAM_BETA_2 = 0.999;
const ADAM_EPSILON = 1e-7;

/**
 * Fine-tunes the clustered model of `session` on `data`. Each epoch shuffles the
 * training samples with a generator seeded from `options.seed`. Every batch runs the
 * forward pass in training mode (Dropout active, BatchNormalization on batch statistics)
 * and one Adam step on the latent weights, the centroids and, by default, the other
 * trainable weights. Each batch runs inside `tf.tidy`, so no tensors accumulate.
 *
 * Returns without a step when no variable is trainable (every clustered layer frozen
 * and `trainUnclusteredWeights` false).
 *
 * Raises DATASET_SHAPE_MISMATCH or DATASET_INVALID for data that does not fit the
 * model, PARAMS_INVALID when validation_split leaves no training samples, and
 * JOB_CANCELED when `options.signal` is aborted.
 */
export async function fineTune(session: ClusteringSession, data: FineTuneData, options: FineTuneOptions): Promise<FineTuneResult> {
  validateOptions(options);
  const { model } = session;
  const { x, y } = data;
  checkDataset(model, x, y, options.loss);

  const samples = x.shape[0] as number;
  const validationSplit = options.validationSplit ?? 0;
  const trainSamples = Math.floor(samples * (1 - validationSplit));
  const validationSamples = samples - trainSamples;
  if (trainSamples === 0 && options.epochs > 0) {
    throw new CentroidError(
      'PARAMS_INVALID',
      `validation_split ${validationSplit} of ${samples} samples leaves no training samples; lower it or add samples`,
      { field: 'fine_tune.validation_split' },
    );
  }

  const result: FineTuneResult = { steps: 0, finalLoss: null, trainSamples, validationSamples, epochs: [] };
  const variables = session.trainingVariables(options.trainUnclusteredWeights ?? true);
  if (options.epochs === 0 || variables.length === 0) {
    return result;
  }

  const split = splitValidation(x, y, trainSamples);
  const optimizer = tf.train.adam(options.learningRate, ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON);
  try {
    const random = createRandom(options.seed);
    const order = new Int32Array(trainSamples);
    const batches = Math.ceil(trainSamples / options.batchSize);

    for (let epoch = 1; epoch <= options.epochs; epoch++) {
      for (let i = 0; i < trainSamples; i++) order[i] = i;
      shuffleInPlace(order, random);

      let lossSum = 0;
      for (let batch = 0; batch < batches; batch++) {
        throwIfCanceled(options.signal);
        const indices = order.subarray(batch * options.batchSize, Math.min((batch + 1) * options.batchSize, trainSamples));
        const batchLoss = trainStep(model, split.xTrain, split.yTrain, indices, options.loss, variables, optimizer);

        lossSum += batchLoss * indices.length;
        result.steps++;
        options.onBatch?.({ epoch, epochs: options.epochs, batch: batch + 1, batches, loss: batchLoss });
        await yieldToEventLoop();
      }

      const validation =
        validationSamples > 0
          ? await evaluate(model, split.xValidation, split.yValidation, options.loss, options.batchSize, undefined, options.signal)
          : null;
      const summary: EpochSummary = { epoch, loss: lossSum / trainSamples, validation };
      result.epochs.push(summary);
      result.finalLoss = summary.loss;
      options.onEpoch?.(summary);
    }
  } finally {
    optimizer.dispose();
    split.dispose();
  }
  return result;
}

/** Runs one Adam step on the samples at `indices` and returns the batch loss before the step. */
function trainStep(
  model: tf.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  indices: Int32Array,
  loss: LossSpec,
  variables: tf.Variable[],
  optimizer: tf.Optimizer,
): number {
  return tf.tidy(() => {
    const batchIndices = tf.tensor1d(indices, 'int32');
    const xBatch = tf.gather(x, batchIndices);
    const yBatch = tf.gather(y, batchIndices);

    const { value, grads } = tf.variableGrads(() => {
      const prediction = model.apply(xBatch, { training: true }) as tf.Tensor;
      // Keras adds the layers' regularization losses to the training loss.
      const regularization = regularizationTerms(model);
      const dataLoss = meanLoss(loss, yBatch, prediction);
      return (regularization.length === 0 ? dataLoss : tf.addN([dataLoss, ...regularization])) as tf.Scalar;
    }, variables);
    optimizer.applyGradients(grads);
    return value.dataSync()[0] as number;
  });
}

interface ValidationSplit {
  xTrain: tf.Tensor;
  yTrain: tf.Tensor;
  xValidation: tf.Tensor;
  yValidation: tf.Tensor;
  dispose(): void;
}

/** Splits off the last samples for validation, as Keras' validation_split does. */
function splitValidation(x: tf.Tensor, y: tf.Tensor, trainSamples: number): ValidationSplit {
  const samples = x.shape[0] as number;
  if (trainSamples === samples) {
    return { xTrain: x, yTrain: y, xValidation: x, yValidation: y, dispose: () => undefined };
  }
  const parts = [
    tf.slice(x, 0, trainSamples),
    tf.slice(y, 0, trainSamples),
    tf.slice(x, trainSamples, samples - trainSamples),
    tf.slice(y, trainSamples, samples - trainSamples),
  ] as const;
  return {
    xTrain: parts[0],
    yTrain: parts[1],
    xValidation: parts[2],
    yValidation: parts[3],
    dispose: () => tf.dispose([...parts]),
  };
}

function validateOptions(options: FineTuneOptions): void {
  const checks: [boolean, string, string][] = [
    [Number.isInteger(options.epochs) && options.epochs >= 0, 'fine_tune.epochs', `must be a non-negative integer, got ${options.epochs}`],
    [Number.isInteger(options.batchSize) && options.batchSize >= 1, 'fine_tune.batch_size', `must be a positive integer, got ${options.batchSize}`],
    [options.learningRate > 0 && Number.isFinite(options.learningRate), 'fine_tune.learning_rate', `must be a positive number, got ${options.learningRate}`],
    [Number.isInteger(options.seed), 'fine_tune.seed', `must be an integer, got ${options.seed}`],
  ];
  const validationSplit = options.validationSplit ?? 0;
  checks.push([validationSplit >= 0 && validationSplit < 1, 'fine_tune.validation_split', `must be at least 0 and below 1, got ${validationSplit}`]);

  for (const [valid, field, problem] of checks) {
    if (!valid) throw new CentroidError('PARAMS_INVALID', `${field} ${problem}`, { field });
  }
}
