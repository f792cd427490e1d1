// Writes a model as a zipped TF.js layers model: `model.json` and its weight shards.
// A TF.js upload keeps its `model.json` bytes and shard layout, and only the replaced
// weights change in the shards. A TF.js upload with a Keras 3 topology, which TF.js
// 4.22 cannot load, gets a translated topology (rewrite-topology.ts). A Keras upload is
// converted: the topology is the Keras config as translated for TF.js, and each weight
// keeps its precision where TF.js can store it (float16 as float16 quantization,
// float64 as float32).
import * as tf from '@tensorflow/tfjs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';

import { writeZip } from '../archive/write-zip.js';
import { encodeFloats, encodeReplacements } from '../keras-h5/write.js';
import { findKeras3Form, translateModelConfig } from '../keras-h5/tfjs-config.js';
import { toLayersModel } from '../keras-h5/to-layers-model.js';
import { quantize } from './affine-quantization.js';
import { readGroupBytes, withTfjsFolder, withTfjsZip, MODEL_JSON } from './container.js';
import { readTfjsModel } from './read.js';
import { rewriteTfjsTopology } from './rewrite-topology.js';
import { translateTrainingConfig } from './training-config.js';

import type { ZipMember } from '../archive/write-zip.js';
import type { WeightEntry } from '../keras-h5/types.js';
import type { WriteKerasH5Result, WriteWarning } from '../keras-h5/write.js';
import type { AffineQuantization, ModelFile, TfjsModelFile } from '../model-types.js';
import type { TfjsContainer } from './container.js';

/** Shard name of a converted model, as tf.io names the single shard of the first group. */
const CONVERTED_SHARD = 'group1-shard1of1.bin';

/**
 * Writes `source` as a zip of `model.json` and its shards at `outPath`, with the weights
 * in `replacements` (keyed by `WeightEntry.datasetPath`) replaced. The zip members are
 * stored, not deflated, so that its size is the size of the model files. A TF.js source
 * keeps its `model.json` bytes unless its topology has a Keras 3 form (`findKeras3Form`),
 * which TF.js 4.22 cannot load. Such a topology is translated, with the warning
 * TFJS_TOPOLOGY_REWRITTEN.
 */
export async function writeTfjsModel(source: ModelFile, outPath: string, replacements: Map<string, Float32Array>): Promise<WriteKerasH5Result> {
  if (source.format !== 'tfjs') {
    return convertToTfjs(source, outPath, replacements);
  }
  const encoded = encodeTfjsReplacements(source, replacements);
  const keras3Form = findKeras3Form(source.modelConfig);
  if (keras3Form !== null) {
    const { members, warnings } = await withSourceContainer(source, (container) => rewriteTfjsTopology(source, container, encoded, keras3Form));
    await writeZip(outPath, members);
    return { warnings };
  }
  const members = await withSourceContainer(source, (container) => patchShards(source, container, encoded));
  await writeZip(outPath, members);
  return { warnings: [] };
}

/**
 * Packs a TF.js model given as a folder or as a `model.json` beside its shards into one zip
 * of `model.json` and its shards, all unchanged, so that it can travel as a single file.
 * A Keras 3 topology is packed as it is, too.
 */
export async function packTfjsModel(path: string, outPath: string, filename: string = basename(path)): Promise<void> {
  const source = await readTfjsModel(path, filename);
  const members = await withSourceContainer(source, (container) => patchShards(source, container, new Map()));
  await writeZip(outPath, members);
}

/**
 * Writes the `model.json` and shards of a zipped TF.js model into `folder`, the layout
 * that tf.loadLayersModel reads over HTTP or from disk. The archive is checked as
 * `readTfjsModel` checks it, so no member lands outside `folder`.
 */
export async function unpackTfjsModel(zipPath: string, folder: string, filename: string = basename(zipPath)): Promise<void> {
  const source = await readTfjsModel(zipPath, filename);
  const members = await withSourceContainer(source, (container) => patchShards(source, container, new Map()));
  await mkdir(folder, { recursive: true });
  for (const member of members) {
    const target = join(folder, member.name);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, member.bytes);
  }
}

function withSourceContainer<T>(source: TfjsModelFile, work: (container: TfjsContainer) => Promise<T>): Promise<T> {
  return source.container === 'zip'
    ? withTfjsZip(source.path, source.filename, {}, work)
    : withTfjsFolder(source.path, source.modelJsonPath, source.filename, work);
}

/** A replacement encoded for the shards, with new quantization parameters for a quantized weight. */
export interface EncodedWeight {
  bytes: Uint8Array;
  affine?: AffineQuantization;
}

/**
 * Encodes each replacement in its weight's storage form: float32, float16, or uint8 or
 * uint16 codes quantized again over the new values' range.
 */
function encodeTfjsReplacements(source: TfjsModelFile, replacements: Map<string, Float32Array>): Map<string, EncodedWeight> {
  const checked = encodeReplacements(source, replacements);
  const specs = new Map(source.weightGroups.flatMap((group) => group.weights).map((spec) => [spec.name, spec]));
  const encoded = new Map<string, EncodedWeight>();
  for (const [name, bytes] of checked) {
    const affine = specs.get(name)?.affine;
    if (affine === undefined) {
      encoded.set(name, { bytes });
      continue;
    }
    const quantized = quantize(replacements.get(name) as Float32Array, affine.dtype);
    encoded.set(name, { bytes: quantized.bytes, affine: quantized.quantization });
  }
  return encoded;
}

/**
 * Returns `model.json`: its original bytes, or, when a quantized weight was replaced, the
 * same JSON with that weight's new `scale` and `min` in the weights manifest.
 */
async function modelJsonBytes(source: TfjsModelFile, container: TfjsContainer, encoded: Map<string, EncodedWeight>): Promise<Uint8Array> {
  const original = await container.readModelJson();
  if (![...encoded.values()].some((weight) => weight.affine !== undefined)) {
    return original;
  }
  const modelJson = structuredClone(source.modelJson) as { weightsManifest: { weights: { name: string; quantization?: Record<string, unknown> }[] }[] };
  for (const weight of modelJson.weightsManifest.flatMap((group) => group.weights)) {
    const affine = encoded.get(weight.name)?.affine;
    if (affine !== undefined) {
      weight.quantization = { ...weight.quantization, dtype: affine.dtype, scale: affine.scale, min: affine.min };
    }
  }
  return new TextEncoder().encode(JSON.stringify(modelJson));
}

async function patchShards(source: TfjsModelFile, container: TfjsContainer, encoded: Map<string, EncodedWeight>): Promise<ZipMember[]> {
  const members: ZipMember[] = [{ name: MODEL_JSON, bytes: await modelJsonBytes(source, container, encoded), deflate: false }];
  for (const group of source.weightGroups) {
    const { bytes, shardLengths } = await readGroupBytes(container, group.paths);
    for (const spec of group.weights) {
      const replacement = encoded.get(spec.name);
      if (replacement !== undefined) {
        bytes.set(replacement.bytes, spec.byteOffset);
      }
    }
    let offset = 0;
    group.paths.forEach((shard, index) => {
      const length = shardLengths[index] as number;
      members.push({ name: posix.normalize(shard), bytes: new Uint8Array(bytes.buffer, bytes.byteOffset + offset, length), deflate: false });
      offset += length;
    });
  }
  return members;
}

async function convertToTfjs(source: ModelFile, outPath: string, replacements: Map<string, Float32Array>): Promise<WriteKerasH5Result> {
  encodeReplacements(source, replacements);
  const warnings: WriteWarning[] = [];
  const { model, bindings } = await toLayersModel(source);
  try {
    const entryByVariable = new Map(bindings.map((binding) => [(binding.layer.weights[binding.weightIndex] as tf.LayerVariable).id, binding.entry]));
    const specs: { name: string; shape: number[]; dtype: 'float32'; quantization?: { dtype: 'float16' } }[] = [];
    const chunks: Uint8Array[] = [];
    let narrowed = false;

    for (const variable of model.weights) {
      const entry = entryByVariable.get(variable.id) as WeightEntry;
      const values = replacements.get(entry.datasetPath) ?? entry.values;
      const float16 = entry.dtype === 'float16';
      narrowed ||= entry.dtype === 'float64';
      specs.push({ name: variable.originalName, shape: entry.shape, dtype: 'float32', ...(float16 ? { quantization: { dtype: 'float16' as const } } : {}) });
      chunks.push(encodeFloats(values, float16 ? 'float16' : 'float32'));
    }
    if (narrowed) {
      warnings.push({
        code: 'WEIGHTS_NARROWED',
        message: `${source.filename} has float64 weights; TF.js stores weights as float32 at most, so they were written as float32.`,
      });
    }

    const modelJson: Record<string, unknown> = {
      format: 'layers-model',
      generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
      convertedBy: 'Centroid',
      modelTopology: tfjsTopology(source),
      weightsManifest: [{ paths: [CONVERTED_SHARD], weights: specs }],
    };
    const trainingConfig = translateTrainingConfig(model, source, warnings);
    if (trainingConfig !== null) {
      modelJson.trainingConfig = trainingConfig;
    }

    await writeZip(outPath, [
      { name: MODEL_JSON, bytes: new TextEncoder().encode(JSON.stringify(modelJson)), deflate: false },
      { name: CONVERTED_SHARD, bytes: Buffer.concat(chunks), deflate: false },
    ]);
    return { warnings };
  } finally {
    model.dispose();
  }
}

/**
 * Returns the topology for `model.json`: the Keras config as translated for TF.js, which
 * is what the engine built the model from. TF.js's own `model.toJSON()` is not used,
 * because with TF.js 4.22 it lost the `depth_multiplier` of a SeparableConv2D layer.
 */
function tfjsTopology(source: ModelFile): Record<string, unknown> {
  const { topology } = translateModelConfig(source.modelConfig);
  const { class_name: className, config } = topology;
  return { class_name: className, config, keras_version: source.kerasVersion ?? `tfjs-layers ${tf.version.tfjs}`, backend: 'tensor_flow.js' };
}
