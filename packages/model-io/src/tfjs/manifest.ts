// Parses and checks a TF.js layers-model `model.json`: the topology, the training config
// and the weights manifest, with the byte range of every weight in its group's shards.
import { CentroidError } from '@centroid/contracts';

import { isPlainObject } from '../keras-archive/archive-json.js';

import type { KerasModelConfig, TrainingConfig } from '../keras-h5/types.js';
import type { AffineQuantization, TfjsWeightGroup, TfjsWeightSpec } from '../model-types.js';

/** The parts of a `model.json` that the reader and writer use. */
export interface ParsedModelJson {
  modelConfig: KerasModelConfig;
  trainingConfig: TrainingConfig | null;
  kerasVersion: string | null;
  backend: string | null;
  weightGroups: TfjsWeightGroup[];
}

function invalid(filename: string, problem: string): CentroidError {
  return new CentroidError('MODEL_INVALID', `${filename}: ${problem}`, { file: filename });
}

/**
 * Returns why a shard path from the manifest cannot be used relative to `model.json`, or
 * null when it can. Absolute paths, `..` segments and URLs would reach outside the upload.
 */
function unsafeShardPathReason(path: string): string | null {
  if (path === '' || path.includes('\0')) {
    return 'it is empty or contains a NUL character';
  }
  if (path.startsWith('/') || path.startsWith('\\') || /^[A-Za-z][A-Za-z0-9+.-]*:/.test(path)) {
    return 'it is an absolute path or a URL';
  }
  if (path.split(/[/\\]/).includes('..')) {
    return 'it contains a ".." segment';
  }
  return null;
}

/** Reads the training config: `trainingConfig` as TF.js writes it, or `training_config` inside the topology as the converter does. */
function readTrainingConfig(modelJson: Record<string, unknown>, topology: Record<string, unknown>): TrainingConfig | null {
  const candidate = modelJson.trainingConfig ?? topology.training_config;
  return isPlainObject(candidate) && candidate.loss !== undefined && candidate.loss !== null ? (candidate as TrainingConfig) : null;
}

/** Checks the structure of `model.json` and returns its topology, training config and weights manifest. */
export function parseModelJson(modelJson: Record<string, unknown>, filename: string): ParsedModelJson {
  if (modelJson.format === 'graph-model') {
    throw new CentroidError(
      'MODEL_FORMAT_UNSUPPORTED',
      `${filename}: model.json describes a TF.js graph model, which has no layers to cluster; upload a TF.js layers model or a Keras model.`,
      { file: filename },
    );
  }
  const topology = modelJson.modelTopology;
  if (!isPlainObject(topology)) {
    throw invalid(filename, 'model.json has no "modelTopology" object; expected a TF.js layers model.');
  }
  const modelConfig = isPlainObject(topology.model_config) ? topology.model_config : topology;
  if (typeof modelConfig.class_name !== 'string' || !isPlainObject(modelConfig.config)) {
    throw invalid(filename, 'the modelTopology of model.json should have a "class_name" string and a "config" object.');
  }

  return {
    modelConfig: modelConfig as KerasModelConfig,
    trainingConfig: readTrainingConfig(modelJson, topology),
    kerasVersion: typeof topology.keras_version === 'string' ? topology.keras_version : null,
    backend: typeof topology.backend === 'string' ? topology.backend : null,
    weightGroups: parseManifest(modelJson.weightsManifest, filename),
  };
}

function parseManifest(manifest: unknown, filename: string): TfjsWeightGroup[] {
  if (!Array.isArray(manifest)) {
    throw invalid(filename, 'model.json has no "weightsManifest" list.');
  }
  const names = new Set<string>();
  return manifest.map((group, groupIndex) => {
    if (!isPlainObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw invalid(filename, `weightsManifest[${groupIndex}] should be an object with "paths" and "weights" lists.`);
    }
    const paths = group.paths.map((path) => {
      const reason = typeof path === 'string' ? unsafeShardPathReason(path) : 'it is not a string';
      if (reason !== null) {
        throw invalid(filename, `shard path ${JSON.stringify(path)} in weightsManifest[${groupIndex}] is rejected because ${reason}.`);
      }
      return path as string;
    });

    let byteOffset = 0;
    const weights = group.weights.map((weight, weightIndex) => {
      const spec = parseWeightSpec(weight, `weightsManifest[${groupIndex}].weights[${weightIndex}]`, byteOffset, filename);
      if (names.has(spec.name)) {
        throw invalid(filename, `the weights manifest lists weight "${spec.name}" more than once.`);
      }
      names.add(spec.name);
      byteOffset += spec.byteLength;
      return spec;
    });
    return { paths, weights };
  });
}

function parseWeightSpec(weight: unknown, where: string, byteOffset: number, filename: string): TfjsWeightSpec {
  if (!isPlainObject(weight) || typeof weight.name !== 'string' || !Array.isArray(weight.shape)) {
    throw invalid(filename, `${where} should be an object with a "name" string and a "shape" list.`);
  }
  const { name } = weight;
  const shape = weight.shape;
  if (!shape.every((size) => Number.isSafeInteger(size) && (size as number) >= 0)) {
    throw invalid(filename, `weight "${name}" has shape ${JSON.stringify(shape)}; expected non-negative integers.`);
  }

  const quantization = weight.quantization;
  const elementCount = (shape as number[]).reduce((product, size) => product * size, 1);
  if (weight.dtype === 'float32' && quantization === undefined) {
    return { name, shape: shape as number[], dtype: 'float32', byteOffset, byteLength: elementCount * 4 };
  }
  if (weight.dtype === 'float32' && isPlainObject(quantization) && quantization.dtype === 'float16') {
    return { name, shape: shape as number[], dtype: 'float16', byteOffset, byteLength: elementCount * 2 };
  }
  const affine = parseAffineQuantization(quantization);
  if (weight.dtype === 'float32' && affine !== null) {
    const bytesPerElement = affine.dtype === 'uint8' ? 1 : 2;
    return { name, shape: shape as number[], dtype: 'float32', affine, byteOffset, byteLength: elementCount * bytesPerElement };
  }

  const stored = isPlainObject(quantization) ? `${String(weight.dtype)} quantized to ${String(quantization.dtype)}` : String(weight.dtype);
  throw new CentroidError(
    'MODEL_LAYER_UNSUPPORTED',
    `${filename}: weight "${name}" is stored as ${stored}; only float32 weights, quantized to float16, uint8 or uint16 or not, are supported.`,
    { file: filename, layer: name.split('/')[0] as string },
  );
}

/** Returns uint8 or uint16 quantization with finite `scale` and `min`, or null for anything else. */
function parseAffineQuantization(quantization: unknown): AffineQuantization | null {
  if (!isPlainObject(quantization) || (quantization.dtype !== 'uint8' && quantization.dtype !== 'uint16')) {
    return null;
  }
  const { scale, min } = quantization;
  if (typeof scale !== 'number' || typeof min !== 'number' || !Number.isFinite(scale) || !Number.isFinite(min)) {
    return null;
  }
  return { dtype: quantization.dtype, scale, min };
}

/** Returns the number of bytes that a group's shards must hold together. */
export function groupByteLength(group: TfjsWeightGroup): number {
  return group.weights.reduce((total, weight) => total + weight.byteLength, 0);
}
