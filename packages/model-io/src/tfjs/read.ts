// Reads a TF.js layers model: `model.json` and its weight shards, from a folder, a lone
// `model.json` with its shards beside it, or a zip archive of them.
import { open, stat } from 'node:fs/promises';
import { basename, dirname, posix } from 'node:path';

import { CentroidError } from '@centroid/contracts';

import { parseJsonObject } from '../keras-archive/archive-json.js';
import { decodeFloats } from '../keras-h5/read.js';
import { dequantize } from './affine-quantization.js';
import { withTfjsFolder, withTfjsZip, MODEL_JSON } from './container.js';
import { groupByteLength, parseModelJson } from './manifest.js';

import type { ArchiveLimits } from '../archive/model-archive.js';
import type { WeightEntry } from '../keras-h5/types.js';
import type { TfjsModelFile, TfjsWeightGroup } from '../model-types.js';
import type { TfjsContainer } from './container.js';

/**
 * Reads a TF.js layers model. `path` is a folder holding `model.json`, a `model.json`
 * file whose shards lie beside it, or a zip archive of `model.json` and its shards.
 * Raises MODEL_INVALID for a damaged or hostile archive, a `model.json` that is not JSON
 * or too large, and shards that are missing or whose sizes disagree with the manifest;
 * MODEL_LAYER_UNSUPPORTED for weights of a dtype other than float32 or float16.
 */
export async function readTfjsModel(path: string, filename: string = basename(path), limits: ArchiveLimits = {}): Promise<TfjsModelFile> {
  return withTfjsContainer(path, filename, limits, (container) => readFromContainer(path, filename, container));
}

/** Opens the folder, lone `model.json` or zip at `path` and passes its files to `work`. */
export async function withTfjsContainer<T>(
  path: string,
  filename: string,
  limits: ArchiveLimits,
  work: (container: TfjsContainer) => Promise<T>,
): Promise<T> {
  if ((await stat(path)).isDirectory()) {
    return withTfjsFolder(path, MODEL_JSON, filename, work);
  }
  if (await startsWithZipSignature(path)) {
    return withTfjsZip(path, filename, limits, work);
  }
  return withTfjsFolder(dirname(path), basename(path), filename, work);
}

async function startsWithZipSignature(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(4);
    const { bytesRead } = await handle.read(buffer, 0, 4, 0);
    return bytesRead === 4 && buffer.readUInt32LE(0) === 0x04034b50;
  } finally {
    await handle.close();
  }
}

/** Parses `model.json` and checks that every shard exists and that each group's shards hold exactly its weights. */
export async function readManifest(container: TfjsContainer, filename: string) {
  const modelJson = parseJsonObject(await container.readModelJson(), filename, container.modelJsonPath);
  const parsed = parseModelJson(modelJson, filename);
  const listedShards = new Set(parsed.weightGroups.flatMap((group) => group.paths.map((shard) => posix.normalize(shard))));
  for (const [groupIndex, group] of parsed.weightGroups.entries()) {
    await checkShardSizes(container, group, groupIndex, filename, listedShards);
  }
  return { modelJson, ...parsed };
}

async function checkShardSizes(
  container: TfjsContainer,
  group: TfjsWeightGroup,
  groupIndex: number,
  filename: string,
  listedShards: ReadonlySet<string>,
): Promise<void> {
  let total = 0;
  for (const shard of group.paths) {
    const size = await container.shardSize(shard);
    if (size === null) {
      const unlisted = await describeUnlistedFiles(container, listedShards);
      throw new CentroidError('MODEL_INVALID', `${filename}: the weight shard "${shard}" that model.json lists is missing. ${unlisted}`, {
        file: filename,
      });
    }
    total += size;
  }
  const expected = groupByteLength(group);
  if (total !== expected) {
    throw new CentroidError(
      'MODEL_INVALID',
      `${filename}: the shards of weightsManifest[${groupIndex}] (${group.paths.join(', ')}) hold ${total} bytes, ` +
        `but its weights need ${expected} bytes; a shard is truncated or does not belong to this model.json.`,
      { file: filename },
    );
  }
}

/** Describes the files beside model.json that its manifest does not list, which are often shards under another name. */
async function describeUnlistedFiles(container: TfjsContainer, listedShards: ReadonlySet<string>): Promise<string> {
  const modelJson = posix.basename(container.modelJsonPath);
  const unlisted = (await container.listFiles()).filter((name) => name !== modelJson && !listedShards.has(posix.normalize(name)));
  if (unlisted.length === 0) return 'No other file came with model.json.';
  const shown = unlisted.slice(0, 10).map((name) => JSON.stringify(name));
  const more = unlisted.length > shown.length ? ` and ${unlisted.length - shown.length} more` : '';
  return `Files that came with model.json but are not in its weights manifest: ${shown.join(', ')}${more}. Name each shard as model.json lists it.`;
}

async function readGroupBytes(container: TfjsContainer, group: TfjsWeightGroup): Promise<Buffer> {
  const shards: Uint8Array[] = [];
  for (const shard of group.paths) {
    shards.push(await container.readShard(shard));
  }
  return Buffer.concat(shards);
}

async function readFromContainer(path: string, filename: string, container: TfjsContainer): Promise<TfjsModelFile> {
  const manifest = await readManifest(container, filename);
  const weights: WeightEntry[] = [];
  for (const group of manifest.weightGroups) {
    const bytes = await readGroupBytes(container, group);
    for (const spec of group.weights) {
      const slice = new Uint8Array(bytes.buffer, bytes.byteOffset + spec.byteOffset, spec.byteLength);
      weights.push({
        layer: spec.name.split('/')[0] as string,
        name: spec.name,
        datasetPath: spec.name,
        shape: spec.shape,
        dtype: spec.dtype,
        values: spec.affine === undefined ? decodeFloats(slice, spec.dtype) : dequantize(slice, spec.affine),
      });
    }
  }

  const isLoneModelJson = container.kind === 'folder' && !(await stat(path)).isDirectory();
  return {
    format: 'tfjs',
    path: isLoneModelJson ? dirname(path) : path,
    filename,
    container: container.kind,
    modelJsonPath: container.modelJsonPath,
    modelJson: manifest.modelJson,
    kerasVersion: manifest.kerasVersion,
    backend: manifest.backend,
    modelConfig: manifest.modelConfig,
    trainingConfig: manifest.trainingConfig,
    weights,
    hasOptimizerState: false,
    weightGroups: manifest.weightGroups,
  };
}
