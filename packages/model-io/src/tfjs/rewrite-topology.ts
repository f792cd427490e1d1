// Writes a TF.js upload whose topology TF.js 4.22 cannot load, such as the tensorflowjs
// converter's output for a Keras 3 model, with the topology translated for TF.js. The
// weights are renamed and ordered as the variables of the translated topology, because
// tf.loadLayersModel matches weights to variables by name. Each weight keeps its storage
// form: float32, float16 quantization, or uint8 or uint16 quantization.
import type * as tf from '@tensorflow/tfjs';

import { isPlainObject } from '../keras-archive/archive-json.js';
import { translateModelConfig } from '../keras-h5/tfjs-config.js';
import { toLayersModel } from '../keras-h5/to-layers-model.js';
import { MODEL_JSON, readGroupBytes } from './container.js';

import type { ZipMember } from '../archive/write-zip.js';
import type { WeightEntry } from '../keras-h5/types.js';
import type { WriteWarning } from '../keras-h5/write.js';
import type { TfjsModelFile } from '../model-types.js';
import type { TfjsContainer } from './container.js';
import type { EncodedWeight } from './write.js';

/** A weight entry of a `weightsManifest` group, as it appears in `model.json`. */
interface ManifestWeight {
  name: string;
  quantization?: Record<string, unknown>;
  [key: string]: unknown;
}

type TrainingConfig = Parameters<tf.LayersModel['loadTrainingConfig']>[0];

/**
 * Returns the `model.json` and shards of `source` with the topology translated for
 * TF.js 4.22, the weights in `encoded` replaced, and the warning TFJS_TOPOLOGY_REWRITTEN.
 * `keras3Form` describes the form that stops TF.js from loading the topology as written.
 */
export async function rewriteTfjsTopology(
  source: TfjsModelFile,
  container: TfjsContainer,
  encoded: Map<string, EncodedWeight>,
  keras3Form: string,
): Promise<{ members: ZipMember[]; warnings: WriteWarning[] }> {
  const warnings: WriteWarning[] = [
    {
      code: 'TFJS_TOPOLOGY_REWRITTEN',
      message:
        `The model.json of ${source.filename} has a Keras 3 topology, which TF.js 4.22 cannot load: ${keras3Form}. ` +
        'The written model.json has the topology rewritten in the form that TF.js 4.22 loads, and its weights are renamed ' +
        'and ordered as TF.js names them. Each weight keeps its dtype and quantization.',
    },
  ];
  const { model, bindings } = await toLayersModel(source);
  try {
    const entryByVariable = new Map(bindings.map((binding) => [(binding.layer.weights[binding.weightIndex] as tf.LayerVariable).id, binding.entry]));
    const originalBytes = await readWeightBytes(source, container);
    const manifestWeights = new Map(
      (source.modelJson.weightsManifest as { weights: ManifestWeight[] }[]).flatMap((group) => group.weights).map((weight) => [weight.name, weight]),
    );

    const weights: ManifestWeight[] = [];
    const chunks: Uint8Array[] = [];
    for (const variable of model.weights) {
      const name = (entryByVariable.get(variable.id) as WeightEntry).datasetPath;
      const replacement = encoded.get(name);
      weights.push(renameWeight(manifestWeights.get(name) as ManifestWeight, variable.originalName, replacement));
      chunks.push(replacement?.bytes ?? (originalBytes.get(name) as Uint8Array));
    }

    const shards = splitIntoShards(Buffer.concat(chunks), await largestShardSize(source, container));
    const modelJson: Record<string, unknown> = {
      ...source.modelJson,
      modelTopology: translatedTopology(source),
      weightsManifest: [{ paths: shards.map((shard) => shard.name), weights }],
    };
    keepTrainingConfig(modelJson, model, source, warnings);

    const members: ZipMember[] = [{ name: MODEL_JSON, bytes: new TextEncoder().encode(JSON.stringify(modelJson)), deflate: false }];
    return { members: [...members, ...shards.map((shard) => ({ ...shard, deflate: false }))], warnings };
  } finally {
    model.dispose();
  }
}

/**
 * Returns the `modelTopology` of `source` with its model config translated for TF.js.
 * Other keys, such as the converter's `keras_version` and `training_config`, are kept.
 * TF.js reads only `model_config` when the topology has one.
 */
function translatedTopology(source: TfjsModelFile): Record<string, unknown> {
  const { topology } = translateModelConfig(source.modelConfig);
  const original = source.modelJson.modelTopology as Record<string, unknown>;
  return isPlainObject(original.model_config) ? { ...original, model_config: topology } : { ...original, ...topology };
}

/** Returns the manifest entry under the TF.js variable name, with new `scale` and `min` for a quantized replacement. */
function renameWeight(original: ManifestWeight, name: string, replacement: EncodedWeight | undefined): ManifestWeight {
  const affine = replacement?.affine;
  if (affine === undefined) {
    return { ...original, name };
  }
  return { ...original, name, quantization: { ...original.quantization, dtype: affine.dtype, scale: affine.scale, min: affine.min } };
}

/** Returns the stored bytes of every weight of `source`, by manifest name. */
async function readWeightBytes(source: TfjsModelFile, container: TfjsContainer): Promise<Map<string, Uint8Array>> {
  const bytesByName = new Map<string, Uint8Array>();
  for (const group of source.weightGroups) {
    const { bytes } = await readGroupBytes(container, group.paths);
    for (const spec of group.weights) {
      bytesByName.set(spec.name, bytes.subarray(spec.byteOffset, spec.byteOffset + spec.byteLength));
    }
  }
  return bytesByName;
}

/** Returns the size in bytes of the largest shard of `source`, or 0 when it has none. */
async function largestShardSize(source: TfjsModelFile, container: TfjsContainer): Promise<number> {
  let largest = 0;
  for (const shard of source.weightGroups.flatMap((group) => group.paths)) {
    largest = Math.max(largest, (await container.shardSize(shard)) ?? 0);
  }
  return largest;
}

/**
 * Splits the weight data into shards of at most `shardBytes` bytes, named as tf.io names
 * the shards of the first group, so that the output keeps the upload's shard size.
 */
function splitIntoShards(data: Buffer, shardBytes: number): { name: string; bytes: Uint8Array }[] {
  if (data.byteLength === 0) {
    return [];
  }
  const size = shardBytes > 0 ? shardBytes : data.byteLength;
  const count = Math.ceil(data.byteLength / size);
  return Array.from({ length: count }, (_, index) => ({
    name: `group1-shard${index + 1}of${count}.bin`,
    bytes: data.subarray(index * size, (index + 1) * size),
  }));
}

/**
 * Keeps the top-level `trainingConfig` of `model.json`, which tf.loadLayersModel compiles
 * the model with, when TF.js compiles the translated model with it. Otherwise removes it
 * with the warning TRAINING_CONFIG_DROPPED, because the load would fail.
 */
function keepTrainingConfig(modelJson: Record<string, unknown>, model: tf.LayersModel, source: TfjsModelFile, warnings: WriteWarning[]): void {
  const trainingConfig = modelJson.trainingConfig;
  if (trainingConfig === undefined || trainingConfig === null) {
    return;
  }
  try {
    model.loadTrainingConfig(trainingConfig as TrainingConfig);
  } catch (error) {
    delete modelJson.trainingConfig;
    const reason = error instanceof Error ? (error.message.split('\n')[0] as string) : String(error);
    warnings.push({
      code: 'TRAINING_CONFIG_DROPPED',
      message:
        `The written model.json has no "trainingConfig", because TF.js cannot compile the model of ${source.filename} ` +
        `with the one it had (${reason.slice(0, 200)}). Compile the model after loading it.`,
    });
  }
}
