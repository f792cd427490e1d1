// The loss a model was compiled with, read from the Keras `training_config`, and its
// computation on tensors. The formulas are those of tf.keras 2, the Keras that TFMOT
// runs on, so probabilities are clipped to [1e-7, 1 − 1e-7] before the logarithm.
import * as tf from '@tensorflow/tfjs';
import { CentroidError } from '@centroid/contracts';
import { resolveAccuracy, type AccuracySpec } from './accuracy.js';
import { describe, isPlainObject } from './config-values.js';

export const SUPPORTED_LOSSES = [
  'categorical_crossentropy',
  'sparse_categorical_crossentropy',
  'binary_crossentropy',
  'mean_squared_error',
  'mean_absolute_error',
] as const;
export type LossName = (typeof SUPPORTED_LOSSES)[number];

/**
 * The label layout a loss expects. `one_hot` has the output's shape. `index` contains one
 * class index per output position (the output shape without its last axis, or with a
 * last axis of 1). `same_as_output` has the output's shape and meaning.
 */
export type LabelForm = 'one_hot' | 'index' | 'same_as_output';

/** A resolved loss and the accuracy metric that goes with it. */
export interface LossSpec {
  name: LossName;
  /** Whether the model outputs logits instead of probabilities. @defaultValue false */
  fromLogits: boolean;
  /** Keras `label_smoothing` of the crossentropy losses, 0 to 1. @defaultValue 0 */
  labelSmoothing: number;
  labelForm: LabelForm;
  /** The accuracy metric Keras would report, or null for regression losses. */
  accuracy: AccuracySpec | null;
}

/** Keras' `epsilon()`: the probability clip of the crossentropy losses. */
export const KERAS_EPSILON = 1e-7;

const LOSS_ALIASES: Record<string, LossName> = {
  categorical_crossentropy: 'categorical_crossentropy',
  categoricalcrossentropy: 'categorical_crossentropy',
  sparse_categorical_crossentropy: 'sparse_categorical_crossentropy',
  sparsecategoricalcrossentropy: 'sparse_categorical_crossentropy',
  binary_crossentropy: 'binary_crossentropy',
  binarycrossentropy: 'binary_crossentropy',
  mean_squared_error: 'mean_squared_error',
  meansquarederror: 'mean_squared_error',
  mse: 'mean_squared_error',
  mean_absolute_error: 'mean_absolute_error',
  meanabsoluteerror: 'mean_absolute_error',
  mae: 'mean_absolute_error',
};

const LABEL_FORMS: Record<LossName, LabelForm> = {
  categorical_crossentropy: 'one_hot',
  sparse_categorical_crossentropy: 'index',
  binary_crossentropy: 'same_as_output',
  mean_squared_error: 'same_as_output',
  mean_absolute_error: 'same_as_output',
};

/**
 * Resolves the loss and accuracy of a Keras `training_config` (the parsed object or its
 * JSON text). Returns null when there is no training config or it names no loss, so
 * nothing can be evaluated; the caller decides what that means.
 *
 * `loss` may be a name (`'categorical_crossentropy'`, `'mse'`, `'MeanSquaredError'`), a
 * serialized loss object (`{ class_name: 'CategoricalCrossentropy', config: {...} }`, or
 * Keras 3's `{ class_name: 'function', config: 'mse' }`), or a one-element list or dict
 * for a single output. `outputShape` (the model's output shape) lets the accuracy be
 * resolved by Keras' shape rule; without it the loss alone decides.
 *
 * Raises LOSS_UNSUPPORTED for any other loss, a config option this engine does not
 * implement, or a loss per output of a multi-output model.
 */
export function resolveLoss(trainingConfig: unknown, outputShape?: readonly (number | null)[]): LossSpec | null {
  const config = parseTrainingConfig(trainingConfig);
  if (config === null || config.loss === undefined || config.loss === null) {
    return null;
  }

  const { name, options } = lossIdentifier(singleOutputEntry(config.loss, 'loss'));
  const lossName = LOSS_ALIASES[name.toLowerCase()];
  if (lossName === undefined) {
    throw new CentroidError(
      'LOSS_UNSUPPORTED',
      `training_config.loss '${name}' is not supported; expected one of ${SUPPORTED_LOSSES.join(', ')}`,
      { field: 'training_config.loss' },
    );
  }

  rejectUnsupportedOptions(options, name);
  const labelForm = LABEL_FORMS[lossName];
  return {
    name: lossName,
    fromLogits: booleanOption(options, 'from_logits', name),
    labelSmoothing: labelSmoothingOption(options, name),
    labelForm,
    accuracy: resolveAccuracy(lossName, labelForm, config.metrics, config.weighted_metrics, outputShape),
  };
}

interface TrainingConfig {
  loss?: unknown;
  metrics?: unknown;
  weighted_metrics?: unknown;
}

function parseTrainingConfig(trainingConfig: unknown): TrainingConfig | null {
  if (trainingConfig === null || trainingConfig === undefined) return null;
  if (typeof trainingConfig === 'string') {
    try {
      return parseTrainingConfig(JSON.parse(trainingConfig));
    } catch (error) {
      throw new CentroidError('MODEL_INVALID', `training_config is not valid JSON: ${(error as Error).message}`, {
        field: 'training_config',
      });
    }
  }
  if (typeof trainingConfig !== 'object' || Array.isArray(trainingConfig)) {
    throw new CentroidError('MODEL_INVALID', `training_config must be an object, got ${describe(trainingConfig)}`, {
      field: 'training_config',
    });
  }
  return trainingConfig as TrainingConfig;
}

/** Unwraps a one-element list or dict, the form Keras saves for a single-output model. */
export function singleOutputEntry(entry: unknown, field: string): unknown {
  if (Array.isArray(entry) || (isPlainObject(entry) && !('class_name' in entry))) {
    const entries = Array.isArray(entry) ? entry : Object.values(entry);
    if (entries.length !== 1) {
      throw new CentroidError(
        'LOSS_UNSUPPORTED',
        `training_config.${field} has ${entries.length} entries, one per output; only single-output models are supported`,
        { field: `training_config.${field}` },
      );
    }
    return entries[0];
  }
  return entry;
}

function lossIdentifier(entry: unknown): { name: string; options: Record<string, unknown> } {
  if (typeof entry === 'string') {
    return { name: entry, options: {} };
  }
  if (isPlainObject(entry) && typeof entry.class_name === 'string') {
    // Keras 3 saves a plain loss function as { class_name: 'function', config: 'mse' }.
    if (entry.class_name === 'function' && typeof entry.config === 'string') {
      return { name: entry.config, options: {} };
    }
    return { name: entry.class_name, options: isPlainObject(entry.config) ? entry.config : {} };
  }
  throw new CentroidError('LOSS_UNSUPPORTED', `training_config.loss ${describe(entry)} is not a loss name or a serialized loss`, {
    field: 'training_config.loss',
  });
}

function booleanOption(options: Record<string, unknown>, key: string, lossName: string): boolean {
  const value = options[key];
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') {
    throw new CentroidError('LOSS_UNSUPPORTED', `${lossName}.${key} must be true or false, got ${describe(value)}`, {
      field: `training_config.loss.config.${key}`,
    });
  }
  return value;
}

/** Raises LOSS_UNSUPPORTED for an option whose value changes the loss in a way not implemented here. */
function rejectUnsupportedOptions(options: Record<string, unknown>, lossName: string): void {
  for (const key of ['axis', 'reduction', 'ignore_class'] as const) {
    const value = options[key];
    const supported =
      value === undefined ||
      value === null ||
      (key === 'axis' && value === -1) ||
      (key === 'reduction' && (value === 'auto' || value === 'sum_over_batch_size'));
    if (!supported) {
      throw new CentroidError(
        'LOSS_UNSUPPORTED',
        `${lossName}.${key} = ${describe(value)} is not supported; only the Keras defaults (axis -1, reduction 'auto' or 'sum_over_batch_size', no ignore_class) are`,
        { field: `training_config.loss.config.${key}` },
      );
    }
  }
}

function labelSmoothingOption(options: Record<string, unknown>, lossName: string): number {
  const value = options.label_smoothing;
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new CentroidError('LOSS_UNSUPPORTED', `${lossName}.label_smoothing must be a number from 0 to 1, got ${describe(value)}`, {
      field: 'training_config.loss.config.label_smoothing',
    });
  }
  return value;
}

/**
 * Computes the loss of each sample, shaped like `yPred` without its last axis, as Keras'
 * loss functions do before reduction. `yTrue` must be in `spec.labelForm`.
 */
export function computeLoss(spec: LossSpec, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const predicted = tf.cast(yPred, 'float32');
    switch (spec.name) {
      case 'categorical_crossentropy':
        return categoricalCrossentropy(spec, tf.cast(yTrue, 'float32'), predicted);
      case 'sparse_categorical_crossentropy':
        return sparseCategoricalCrossentropy(spec, yTrue, predicted);
      case 'binary_crossentropy':
        return binaryCrossentropy(spec, tf.cast(yTrue, 'float32'), predicted);
      case 'mean_squared_error':
        return tf.mean(tf.square(tf.sub(tf.cast(yTrue, 'float32'), predicted)), -1);
      case 'mean_absolute_error':
        return tf.mean(tf.abs(tf.sub(tf.cast(yTrue, 'float32'), predicted)), -1);
    }
  });
}

/** Returns the batch loss: the mean of {@link computeLoss} over every sample, as a scalar. */
export function meanLoss(spec: LossSpec, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(computeLoss(spec, yTrue, yPred)) as tf.Scalar);
}

// NOTE: tf.keras 2 with the TensorFlow backend takes the logits back from a softmax
// output layer (a sigmoid one for binary crossentropy) and computes the crossentropy
// from them. Its loss therefore
// differs from this clipped form when a predicted probability is below 1e-7 or above
// 1 − 1e-7.
function categoricalCrossentropy(spec: LossSpec, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  const classes = yPred.shape[yPred.rank - 1] as number;
  const labels = spec.labelSmoothing > 0 ? tf.add(tf.mul(yTrue, 1 - spec.labelSmoothing), spec.labelSmoothing / classes) : yTrue;

  if (spec.fromLogits) {
    return tf.neg(tf.sum(tf.mul(labels, tf.logSoftmax(yPred, -1)), -1));
  }
  const normalised = tf.div(yPred, tf.sum(yPred, -1, true));
  const clipped = tf.clipByValue(normalised, KERAS_EPSILON, 1 - KERAS_EPSILON);
  return tf.neg(tf.sum(tf.mul(labels, tf.log(clipped)), -1));
}

function sparseCategoricalCrossentropy(spec: LossSpec, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  const classes = yPred.shape[yPred.rank - 1] as number;
  const perPosition = yPred.shape.slice(0, -1);
  const oneHot = tf.reshape(tf.oneHot(tf.cast(tf.reshape(yTrue, [-1]), 'int32'), classes), [...perPosition, classes]);

  // Without logits, tf.keras 2 clips the probabilities and uses their logarithm as
  // logits, so the softmax renormalises the clipped values.
  const logits = spec.fromLogits ? yPred : tf.log(tf.clipByValue(yPred, KERAS_EPSILON, 1 - KERAS_EPSILON));
  return tf.neg(tf.sum(tf.mul(tf.cast(oneHot, 'float32'), tf.logSoftmax(logits, -1)), -1));
}

function binaryCrossentropy(spec: LossSpec, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  const labels = spec.labelSmoothing > 0 ? tf.add(tf.mul(yTrue, 1 - spec.labelSmoothing), 0.5 * spec.labelSmoothing) : yTrue;

  if (spec.fromLogits) {
    // The stable form of sigmoid crossentropy: max(z, 0) − z·y + log(1 + e^−|z|).
    const perElement = tf.add(tf.sub(tf.relu(yPred), tf.mul(yPred, labels)), tf.log1p(tf.exp(tf.neg(tf.abs(yPred)))));
    return tf.mean(perElement, -1);
  }
  // tf.keras 2 adds epsilon inside both logarithms after clipping.
  const clipped = tf.clipByValue(yPred, KERAS_EPSILON, 1 - KERAS_EPSILON);
  const positive = tf.mul(labels, tf.log(tf.add(clipped, KERAS_EPSILON)));
  const negative = tf.mul(tf.sub(1, labels), tf.log(tf.add(tf.sub(1, clipped), KERAS_EPSILON)));
  return tf.mean(tf.neg(tf.add(positive, negative)), -1);
}
