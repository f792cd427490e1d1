// Reads the root attributes of a Keras HDF5 file: versions, the model config that
// describes the architecture, and the training config that describes compilation.
import { CentroidError } from '@centroid/contracts';

import { jsonNestingDepth, MAX_JSON_DEPTH } from '../json-depth.js';
import { readStringAttribute } from './attributes.js';

import type { H5File } from '../hdf5/h5wasm.js';
import type { KerasModelConfig, KerasModelFile, TrainingConfig } from './types.js';

export type KerasModelMetadata = Pick<
  KerasModelFile,
  'kerasVersion' | 'backend' | 'modelConfig' | 'trainingConfig' | 'hasOptimizerState'
>;

const SAVE_WHOLE_MODEL_HINT = 'Save the whole model with model.save("model.h5") and upload that file.';

/** Reads and validates the root attributes and reports whether optimizer state is present. */
export function readModelMetadata(file: H5File, filename: string): KerasModelMetadata {
  const rootKeys = file.keys();
  const modelConfigText = readStringAttribute(file, 'model_config', filename);
  if (modelConfigText === null) {
    throw new CentroidError('MODEL_INVALID', describeMissingModelConfig(file, rootKeys, filename), { file: filename });
  }

  const modelConfig = parseModelConfig(modelConfigText, filename);
  const trainingConfigText = readStringAttribute(file, 'training_config', filename);
  const trainingConfig = trainingConfigText === null ? null : parseTrainingConfig(trainingConfigText, filename);

  return {
    kerasVersion: readStringAttribute(file, 'keras_version', filename),
    backend: readStringAttribute(file, 'backend', filename),
    modelConfig,
    trainingConfig,
    hasOptimizerState: rootKeys.includes('optimizer_weights'),
  };
}

function describeMissingModelConfig(file: H5File, rootKeys: string[], filename: string): string {
  if (Object.prototype.hasOwnProperty.call(file.attrs, 'layer_names')) {
    return (
      `${filename} is a weights-only file, as model.save_weights() writes it: it has layer weights at the root ` +
      `but no model_config attribute, so the architecture is unknown. ${SAVE_WHOLE_MODEL_HINT}`
    );
  }
  if (rootKeys.includes('layers') || rootKeys.includes('vars')) {
    return (
      `${filename} is a Keras 3 weights file (.weights.h5): it has no model_config attribute, ` +
      `so the architecture is unknown. ${SAVE_WHOLE_MODEL_HINT}`
    );
  }
  const found = rootKeys.length === 0 ? 'no groups' : `the groups ${rootKeys.map((key) => `"${key}"`).join(', ')}`;
  return (
    `${filename} has no model_config attribute, so it is not a Keras model file (its root contains ${found}). ` +
    SAVE_WHOLE_MODEL_HINT
  );
}

/**
 * Largest config attribute accepted, in UTF-16 code units. Keras configs of models with
 * thousands of layers take a few megabytes, an estimate from their per-layer size of 1 to 2 KB.
 */
export const MAX_CONFIG_LENGTH = 16 * 1024 * 1024;

function parseJsonAttribute(text: string, name: string, filename: string): unknown {
  if (text.length > MAX_CONFIG_LENGTH) {
    throw new CentroidError(
      'MODEL_INVALID',
      `${filename}: the ${name} attribute is ${text.length} characters long, more than the limit of ${MAX_CONFIG_LENGTH}; ` +
        'expected the JSON that Keras writes, which is far smaller.',
      { file: filename },
    );
  }
  if (jsonNestingDepth(text) > MAX_JSON_DEPTH) {
    throw new CentroidError(
      'MODEL_INVALID',
      `${filename}: the ${name} attribute nests JSON arrays and objects more than ${MAX_JSON_DEPTH} levels deep; ` +
        'expected the JSON that Keras writes, which nests far less.',
      { file: filename },
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CentroidError(
      'MODEL_INVALID',
      `${filename}: the ${name} attribute is not valid JSON (${reason}); expected the JSON that Keras writes.`,
      { file: filename },
      { cause: error },
    );
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseModelConfig(text: string, filename: string): KerasModelConfig {
  const parsed = parseJsonAttribute(text, 'model_config', filename);
  if (!isPlainObject(parsed) || typeof parsed.class_name !== 'string' || !isPlainObject(parsed.config)) {
    throw new CentroidError(
      'MODEL_INVALID',
      `${filename}: model_config should be a JSON object with a "class_name" string and a "config" object, ` +
        `found ${JSON.stringify(parsed)?.slice(0, 120)}.`,
      { file: filename },
    );
  }
  return parsed as KerasModelConfig;
}

function parseTrainingConfig(text: string, filename: string): TrainingConfig {
  const parsed = parseJsonAttribute(text, 'training_config', filename);
  if (!isPlainObject(parsed)) {
    throw new CentroidError(
      'MODEL_INVALID',
      `${filename}: training_config should be a JSON object, found ${JSON.stringify(parsed)?.slice(0, 120)}.`,
      { file: filename },
    );
  }
  return parsed as TrainingConfig;
}
