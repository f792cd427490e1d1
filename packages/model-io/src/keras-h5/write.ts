// Writes a clustered model as a Keras HDF5 file: the input file with only the replaced
// weight tensors changed. Without optimizer state, the replaced datasets are overwritten
// in a copy of the input, so every other byte stays as it was. With optimizer state,
// the file is written anew without the `optimizer_weights` group, because deleting a
// group does not shrink an HDF5 file.
import { randomUUID } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { CentroidError, isCentroidError } from '@centroid/contracts';

import { float32ToFloat16 } from '../float16.js';
import { copyTree, findUncopyableObject } from '../hdf5/copy-tree.js';
import { readDatasetLayout, writeDatasetBytes } from '../hdf5/dataset-bytes.js';
import {
  closeQuietly,
  copyIntoMemfs,
  createMemfsPath,
  describeH5Error,
  openH5File,
  readMemfsFile,
  removeMemfsFile,
} from '../hdf5/h5wasm.js';
import { defaultTimeoutMs, runIsolatedH5Task } from './isolated.js';

import type { H5File } from '../hdf5/h5wasm.js';
import type { IsolationOptions } from './isolated.js';
import type { ModelFile } from '../model-types.js';
import type { KerasModelFile, WeightDtype } from './types.js';

/** Something the writer did that the caller should report, such as dropping optimizer state. */
export interface WriteWarning {
  /**
   * Stable code for callers to match, such as `OPTIMIZER_STATE_DROPPED`, `OPTIMIZER_STATE_KEPT`,
   * `WEIGHTS_NARROWED`, `TRAINING_CONFIG_DROPPED` or `TFJS_TOPOLOGY_REWRITTEN`.
   */
  code: string;
  message: string;
}

export interface WriteKerasH5Result {
  warnings: WriteWarning[];
}

const OPTIMIZER_GROUP = '/optimizer_weights';

/** Encodes float32 values as little-endian bytes of a weight's storage type. */
export function encodeFloats(values: Float32Array, dtype: WeightDtype): Uint8Array {
  switch (dtype) {
    case 'float32':
      return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
    case 'float64':
      return new Uint8Array(Float64Array.from(values).buffer);
    case 'float16':
      return new Uint8Array(float32ToFloat16(values).buffer);
  }
}

/**
 * Checks every replacement against the weights of `source` and encodes it in the
 * dataset's own dtype. Raises MODEL_WEIGHTS_MISMATCH for a path that is not a weight of
 * the model or for a value count that differs from the weight's.
 */
export function encodeReplacements(source: ModelFile, replacements: Map<string, Float32Array>): Map<string, Uint8Array> {
  const weightsByPath = new Map(source.weights.map((weight) => [weight.datasetPath, weight]));
  const encoded = new Map<string, Uint8Array>();

  for (const [datasetPath, values] of replacements) {
    const weight = weightsByPath.get(datasetPath);
    if (weight === undefined) {
      throw new CentroidError(
        'MODEL_WEIGHTS_MISMATCH',
        `${source.filename}: a replacement was given for ${datasetPath}, which is not a weight dataset of the model.`,
        { file: source.filename },
      );
    }
    if (values.length !== weight.values.length) {
      throw new CentroidError(
        'MODEL_WEIGHTS_MISMATCH',
        `${source.filename}: the replacement for weight "${weight.name}" of layer "${weight.layer}" has ${values.length} values; ` +
          `expected ${weight.values.length} for shape [${weight.shape.join(', ')}].`,
        { file: source.filename, layer: weight.layer },
      );
    }
    encoded.set(datasetPath, encodeFloats(values, weight.dtype));
  }
  return encoded;
}

/**
 * Writes `source` to `outPath` with the datasets in `replacements` (keyed by dataset
 * path) replaced and converted back to each dataset's dtype. Every other attribute,
 * name and tensor keeps its value. Optimizer state is dropped with the warning
 * OPTIMIZER_STATE_DROPPED, or kept with OPTIMIZER_STATE_KEPT when the file contains
 * something the rewrite cannot reproduce. The output appears at `outPath` only once
 * complete.
 */
export async function writeKerasH5(
  source: KerasModelFile,
  outPath: string,
  replacements: Map<string, Float32Array>,
  options: IsolationOptions = {},
): Promise<WriteKerasH5Result> {
  const encoded = encodeReplacements(source, replacements);
  const timeoutMs = options.timeoutMs ?? (await defaultTimeoutMs(source.path));
  return runIsolatedH5Task<WriteKerasH5Result>('writeKerasH5', [source.path, source.filename, outPath, encoded], timeoutMs, {
    filename: source.filename,
    activity: 'writing the clustered model',
    failureCode: 'INTERNAL',
  });
}

/** Writes the clustered model in this process; `writeKerasH5` runs this in a child process. */
export async function writeKerasH5InProcess(
  sourcePath: string,
  filename: string,
  outPath: string,
  replacements: Map<string, Uint8Array>,
): Promise<WriteKerasH5Result> {
  try {
    return await writeClusteredCopy(sourcePath, filename, outPath, replacements);
  } catch (error) {
    if (isCentroidError(error)) {
      throw error;
    }
    throw new CentroidError(
      'INTERNAL',
      `${filename}: writing the clustered model to ${basename(outPath)} failed: ${describeH5Error(error)}`,
      { file: filename },
      { cause: error },
    );
  }
}

async function writeClusteredCopy(
  sourcePath: string,
  filename: string,
  outPath: string,
  replacements: Map<string, Uint8Array>,
): Promise<WriteKerasH5Result> {
  const memfsSource = await copyIntoMemfs(sourcePath);
  const memfsRebuilt = createMemfsPath();
  const warnings: WriteWarning[] = [];
  let source: H5File | null = null;

  try {
    source = openH5File(memfsSource, 'r');
    checkReplacementSizes(source, replacements, filename);

    let outputPath = memfsSource;
    if (source.keys().includes(OPTIMIZER_GROUP.slice(1))) {
      const problem = findUncopyableObject(source, new Set([OPTIMIZER_GROUP]));
      if (problem === null) {
        rebuildWithoutOptimizer(source, memfsRebuilt, replacements);
        outputPath = memfsRebuilt;
        warnings.push({
          code: 'OPTIMIZER_STATE_DROPPED',
          message:
            `The optimizer state (optimizer_weights) of ${filename} was dropped. Keras loads the clustered model ` +
            'with a fresh optimizer built from its training_config.',
        });
      } else {
        warnings.push({
          code: 'OPTIMIZER_STATE_KEPT',
          message:
            `The optimizer state (optimizer_weights) of ${filename} was kept, because the file cannot be rewritten ` +
            `without it: ${problem}. The state is stale for the clustered weights, so load the model with compile=False.`,
        });
      }
    }

    closeQuietly(source);
    source = null;
    if (outputPath === memfsSource) {
      overwriteDatasets(memfsSource, replacements);
    }
    await writeAtomically(outPath, readMemfsFile(outputPath));
    return { warnings };
  } finally {
    closeQuietly(source);
    removeMemfsFile(memfsSource);
    removeMemfsFile(memfsRebuilt);
  }
}

export function checkReplacementSizes(file: H5File, replacements: Map<string, Uint8Array>, filename: string): void {
  for (const [datasetPath, bytes] of replacements) {
    const dataset = file.get(datasetPath);
    if (dataset === null || !('type' in dataset) || dataset.type !== 'Dataset') {
      throw new CentroidError(
        'MODEL_WEIGHTS_MISMATCH',
        `${filename}: dataset ${datasetPath} was not found; the file changed after it was read.`,
        { file: filename },
      );
    }
    const layout = readDatasetLayout(file, datasetPath);
    if (layout.byteLength !== bytes.byteLength) {
      throw new CentroidError(
        'MODEL_WEIGHTS_MISMATCH',
        `${filename}: dataset ${datasetPath} has ${layout.byteLength} bytes, but its replacement has ${bytes.byteLength}; ` +
          'the file changed after it was read.',
        { file: filename },
      );
    }
  }
}

// Both writers close the output file outside the error path on purpose: closing flushes
// HDF5 metadata, and a failure there must fail the write.

function rebuildWithoutOptimizer(source: H5File, memfsTarget: string, replacements: Map<string, Uint8Array>): void {
  const target = openH5File(memfsTarget, 'w');
  try {
    copyTree(source, target, {
      exclude: new Set([OPTIMIZER_GROUP]),
      replacementBytes: (datasetPath) => replacements.get(datasetPath),
    });
  } catch (error) {
    closeQuietly(target);
    throw error;
  }
  target.close();
}

export function overwriteDatasets(memfsPath: string, replacements: Map<string, Uint8Array>): void {
  const file = openH5File(memfsPath, 'a');
  try {
    for (const [datasetPath, bytes] of replacements) {
      writeDatasetBytes(file, datasetPath, bytes);
    }
  } catch (error) {
    closeQuietly(file);
    throw error;
  }
  file.close();
}

/** Writes through a temporary file in the same folder and renames it, so `path` never contains a partial file. */
export async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const temporaryPath = join(dirname(path), `.${basename(path)}.${randomUUID()}.partial`);
  try {
    await writeFile(temporaryPath, bytes);
    await rename(temporaryPath, path);
  } catch (error) {
    await rm(temporaryPath, { force: true });
    throw error;
  }
}
