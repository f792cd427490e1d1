// The accuracy metric Keras reports for a compiled model, and its computation.
import * as tf from '@tensorflow/tfjs';
import type { LabelForm, LossName } from './losses.js';
import { isPlainObject } from './config-values.js';

export type AccuracyMetric = 'categorical_accuracy' | 'sparse_categorical_accuracy' | 'binary_accuracy';

export interface AccuracySpec {
  metric: AccuracyMetric;
  /** A prediction above this counts as 1 for `binary_accuracy`. @defaultValue 0.5 */
  threshold: number;
}

const DEFAULT_THRESHOLD = 0.5;

const NAMED_METRICS: Record<string, AccuracyMetric> = {
  categorical_accuracy: 'categorical_accuracy',
  categoricalaccuracy: 'categorical_accuracy',
  sparse_categorical_accuracy: 'sparse_categorical_accuracy',
  sparsecategoricalaccuracy: 'sparse_categorical_accuracy',
  binary_accuracy: 'binary_accuracy',
  binaryaccuracy: 'binary_accuracy',
};

/**
 * Picks the accuracy metric for a loss: the first accuracy metric in the compiled
 * `metrics` (or `weighted_metrics`), and, when none is listed, the one `'accuracy'`
 * would give, so classification jobs always report an accuracy. Regression losses get
 * none, even when `'accuracy'` was compiled in.
 *
 * `'accuracy'` and `'acc'` follow tf.keras 2's shape rule: an output whose last axis is
 * 1 gets `binary_accuracy`, index labels get `sparse_categorical_accuracy`, and anything
 * else `categorical_accuracy`. Without `outputShape` the loss decides instead.
 */
export function resolveAccuracy(
  lossName: LossName,
  labelForm: LabelForm,
  metrics: unknown,
  weightedMetrics: unknown,
  outputShape: readonly (number | null)[] | undefined,
): AccuracySpec | null {
  if (lossName === 'mean_squared_error' || lossName === 'mean_absolute_error') {
    return null;
  }

  const byShape = (): AccuracySpec => ({
    metric: accuracyByShape(lossName, labelForm, outputShape),
    threshold: DEFAULT_THRESHOLD,
  });

  for (const identifier of [...flattenMetrics(metrics), ...flattenMetrics(weightedMetrics)]) {
    if (typeof identifier === 'string') {
      const name = identifier.toLowerCase();
      if (name === 'accuracy' || name === 'acc') return byShape();
      const metric = NAMED_METRICS[name];
      if (metric !== undefined) return { metric, threshold: DEFAULT_THRESHOLD };
    } else if (isPlainObject(identifier) && typeof identifier.class_name === 'string') {
      const metric = NAMED_METRICS[identifier.class_name.toLowerCase()];
      if (metric !== undefined) {
        const config = isPlainObject(identifier.config) ? identifier.config : {};
        const threshold = typeof config.threshold === 'number' ? config.threshold : DEFAULT_THRESHOLD;
        return { metric, threshold };
      }
    }
  }
  return byShape();
}

function accuracyByShape(
  lossName: LossName,
  labelForm: LabelForm,
  outputShape: readonly (number | null)[] | undefined,
): AccuracyMetric {
  if (outputShape === undefined || outputShape.length === 0) {
    if (lossName === 'binary_crossentropy') return 'binary_accuracy';
    return labelForm === 'index' ? 'sparse_categorical_accuracy' : 'categorical_accuracy';
  }
  if (outputShape[outputShape.length - 1] === 1) return 'binary_accuracy';
  if (labelForm === 'index') return 'sparse_categorical_accuracy';
  // NOTE: this is tf.keras 2's rule, so binary_crossentropy on a multi-label output
  // reports categorical_accuracy, as Keras does.
  return 'categorical_accuracy';
}

/** Flattens metrics given as a list, a list per output, or a dict per output. */
function flattenMetrics(metrics: unknown): unknown[] {
  if (Array.isArray(metrics)) return metrics.flatMap(flattenMetrics);
  if (isPlainObject(metrics) && !('class_name' in metrics)) return Object.values(metrics).flatMap(flattenMetrics);
  if (metrics === undefined || metrics === null) return [];
  return [metrics];
}

/**
 * Returns 1 where a prediction is right and 0 where it is wrong, shaped like `yPred`
 * without its last axis. For `binary_accuracy` each entry is the fraction right over the
 * last axis, as in Keras. The metric's value is the mean over every entry and batch.
 */
export function computeAccuracy(spec: AccuracySpec, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    switch (spec.metric) {
      case 'categorical_accuracy':
        return tf.cast(tf.equal(tf.argMax(yTrue, -1), tf.argMax(yPred, -1)), 'float32');
      case 'sparse_categorical_accuracy': {
        const predicted = tf.argMax(yPred, -1);
        const labels = tf.reshape(yTrue, predicted.shape);
        return tf.cast(tf.equal(tf.cast(labels, 'float32'), tf.cast(predicted, 'float32')), 'float32');
      }
      case 'binary_accuracy': {
        const predicted = tf.cast(tf.greater(yPred, spec.threshold), 'float32');
        return tf.mean(tf.cast(tf.equal(tf.cast(yTrue, 'float32'), predicted), 'float32'), -1);
      }
    }
  });
}
