// Translates a Keras training config into one that TF.js 4.22 compiles on load, for the
// `trainingConfig` of a converted model.json. Keras and TF.js spell some names differently.
import type * as tf from '@tensorflow/tfjs';

import type { WriteWarning } from '../keras-h5/write.js';
import type { ModelFile } from '../model-types.js';

/** Keras' short loss names, which TF.js does not know, with the full names that it does. */
const LOSS_ALIASES: Record<string, string> = {
  mse: 'mean_squared_error',
  mae: 'mean_absolute_error',
  mape: 'mean_absolute_percentage_error',
  msle: 'mean_squared_logarithmic_error',
  kld: 'kullback_leibler_divergence',
};

interface OptimizerConfig {
  class_name: string;
  config: Record<string, unknown>;
}

type TrainingConfig = Parameters<tf.LayersModel['loadTrainingConfig']>[0];

/**
 * Returns the source's training config in the form that TF.js compiles, after checking that
 * `model` compiles with it, as tf.loadLayersModel does on load. Returns null with the
 * warning TRAINING_CONFIG_DROPPED when the source has no optimizer or TF.js cannot compile
 * the model with it.
 */
export function translateTrainingConfig(model: tf.LayersModel, source: ModelFile, warnings: WriteWarning[]): Record<string, unknown> | null {
  if (source.trainingConfig === null) {
    return null;
  }
  const original = source.trainingConfig as Record<string, unknown>;
  const optimizer = original.optimizer_config as OptimizerConfig | null | undefined;
  const loss = describeLoss(original.loss);
  if (optimizer == null || typeof optimizer.class_name !== 'string') {
    warnings.push({
      code: 'TRAINING_CONFIG_DROPPED',
      message:
        `model.json has no training config, because the training config of ${source.filename} names no optimizer and TF.js ` +
        `needs one to compile a model on load. The loss (${loss}) and metrics are not kept; compile the model after loading it.`,
    });
    return null;
  }

  const translated: Record<string, unknown> = {
    ...original,
    loss: translateLoss(original.loss),
    // A registered name such as `Custom>Adam`, which tf_keras 2.18 writes, names the class `Adam`.
    optimizer_config: { ...optimizer, class_name: optimizer.class_name.replace(/^.*>/, '') },
  };
  try {
    model.loadTrainingConfig(translated as unknown as TrainingConfig);
    return translated;
  } catch {
    warnings.push({
      code: 'TRAINING_CONFIG_DROPPED',
      message:
        `model.json has no training config, because TF.js cannot compile the model with the optimizer ${optimizer.class_name}, ` +
        `the loss ${loss} and the metrics of ${source.filename}. These are not kept; compile the model after loading it.`,
    });
    return null;
  }
}

/** Replaces Keras' short loss names with the full ones, in a single loss, a list or a map by output. */
function translateLoss(loss: unknown): unknown {
  if (typeof loss === 'string') {
    return LOSS_ALIASES[loss] ?? loss;
  }
  if (Array.isArray(loss)) {
    return loss.map(translateLoss);
  }
  if (typeof loss === 'object' && loss !== null) {
    return Object.fromEntries(Object.entries(loss).map(([output, value]) => [output, translateLoss(value)]));
  }
  return loss;
}

function describeLoss(loss: unknown): string {
  if (typeof loss === 'string') {
    return loss;
  }
  return loss == null ? 'none' : JSON.stringify(loss).slice(0, 200);
}
