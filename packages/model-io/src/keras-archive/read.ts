// Reads a Keras 3 `.keras` archive: the model config and compile config from
// `config.json`, the Keras version from `metadata.json`, and every weight tensor from
// `model.weights.h5`.
import { basename } from 'node:path';

import { CentroidError, isCentroidError } from '@centroid/contracts';

import { withModelArchive } from '../archive/model-archive.js';
import { readDatasetBytes } from '../hdf5/dataset-bytes.js';
import { closeQuietly, describeH5Error, openH5File, removeMemfsFile, writeIntoMemfs } from '../hdf5/h5wasm.js';
import { defaultTimeoutMs, runIsolatedH5Task } from '../keras-h5/isolated.js';
import { decodeFloats } from '../keras-h5/read.js';
import { isPlainObject, readJsonMember } from './archive-json.js';
import { describeArchiveWeights } from './weight-layout.js';

import type { ArchiveLimits, ModelArchive } from '../archive/model-archive.js';
import type { H5File } from '../hdf5/h5wasm.js';
import type { IsolationOptions } from '../keras-h5/isolated.js';
import type { KerasModelConfig, TrainingConfig } from '../keras-h5/types.js';
import type { KerasArchiveFile } from '../model-types.js';

export const KERAS_ARCHIVE_KIND = 'Keras 3 .keras archive';
export const CONFIG_MEMBER = 'config.json';
export const METADATA_MEMBER = 'metadata.json';
export const WEIGHTS_MEMBER = 'model.weights.h5';

export type ReadKerasArchiveOptions = IsolationOptions & ArchiveLimits;

/**
 * Reads a Keras 3 model saved with `model.save("model.keras")`. Raises MODEL_INVALID for a
 * damaged or hostile archive, a missing member or an unparsable config, and
 * MODEL_WEIGHTS_MISMATCH when the weights file does not fit the config. The HDF5 library
 * runs in a child process that is killed after `options.timeoutMs`.
 */
export async function readKerasArchive(
  path: string,
  filename: string = basename(path),
  options: ReadKerasArchiveOptions = {},
): Promise<KerasArchiveFile> {
  const timeoutMs = options.timeoutMs ?? (await defaultTimeoutMs(path));
  const limits: ArchiveLimits = options.maxExpandedBytes === undefined ? {} : { maxExpandedBytes: options.maxExpandedBytes };
  return runIsolatedH5Task<KerasArchiveFile>('readKerasArchive', [path, filename, limits], timeoutMs, {
    filename,
    activity: 'reading the .keras archive',
    failureCode: 'MODEL_INVALID',
  });
}

/** The members of a `.keras` archive that the reader needs, parsed. */
export interface KerasArchiveMembers {
  config: Record<string, unknown>;
  metadata: Record<string, unknown> | null;
  weightsBytes: Uint8Array;
}

/** Reads and parses `config.json`, `metadata.json` and `model.weights.h5`. */
export async function readArchiveMembers(archive: ModelArchive, filename: string): Promise<KerasArchiveMembers> {
  const configEntry = archive.find(CONFIG_MEMBER);
  const weightsEntry = archive.find(WEIGHTS_MEMBER);
  if (configEntry === undefined || weightsEntry === undefined) {
    const found = archive.entries.map((entry) => `"${entry.name}"`).join(', ') || 'no members';
    const other = archive.find('model.weights.npz') === undefined ? '' : ' Weights saved as model.weights.npz are not supported; save with the default weights format.';
    throw new CentroidError(
      'MODEL_INVALID',
      `${filename}: expected a ${KERAS_ARCHIVE_KIND} with members ${CONFIG_MEMBER} and ${WEIGHTS_MEMBER}, found ${found}.${other}`,
      { file: filename },
    );
  }
  const config = await readJsonMember(archive, configEntry, filename);
  const metadataEntry = archive.find(METADATA_MEMBER);
  const metadata = metadataEntry === undefined ? null : await readJsonMember(archive, metadataEntry, filename);
  return { config, metadata, weightsBytes: await archive.read(weightsEntry) };
}

/** Reads a `.keras` archive in this process; `readKerasArchive` runs this in a child process. */
export async function readKerasArchiveInProcess(path: string, filename: string, limits: ArchiveLimits): Promise<KerasArchiveFile> {
  return withModelArchive(path, filename, KERAS_ARCHIVE_KIND, limits, async (archive) => {
    const { config, metadata, weightsBytes } = await readArchiveMembers(archive, filename);
    const modelConfig = checkModelConfig(config, filename);

    return withWeightsFile(weightsBytes, filename, (file) => {
      const weights = describeArchiveWeights(file, modelConfig, filename).map((descriptor) => ({
        ...descriptor,
        values: decodeFloats(readDatasetBytes(file, descriptor.datasetPath), descriptor.dtype),
      }));
      return {
        format: 'keras' as const,
        path,
        filename,
        kerasVersion: typeof metadata?.keras_version === 'string' ? metadata.keras_version : null,
        backend: null,
        modelConfig,
        trainingConfig: trainingConfigOf(modelConfig),
        weights,
        hasOptimizerState: hasOptimizerVariables(file),
      };
    });
  });
}

/** Opens the bytes of `model.weights.h5` with h5wasm and passes the file to `read`; HDF5 failures become MODEL_INVALID. */
export async function withWeightsFile<T>(bytes: Uint8Array, filename: string, read: (file: H5File) => T): Promise<T> {
  const memfsPath = await writeIntoMemfs(bytes);
  let file: H5File | null = null;
  try {
    file = openH5File(memfsPath, 'r');
    return read(file);
  } catch (error) {
    if (isCentroidError(error)) {
      throw error;
    }
    throw new CentroidError(
      'MODEL_INVALID',
      `${filename}: ${WEIGHTS_MEMBER} could not be read as HDF5 (${describeH5Error(error)}). The archive may be damaged.`,
      { file: filename },
      { cause: error },
    );
  } finally {
    closeQuietly(file);
    removeMemfsFile(memfsPath);
  }
}

export function checkModelConfig(config: Record<string, unknown>, filename: string): KerasModelConfig {
  if (typeof config.class_name !== 'string' || !isPlainObject(config.config)) {
    throw new CentroidError(
      'MODEL_INVALID',
      `${filename}: ${CONFIG_MEMBER} should be a JSON object with a "class_name" string and a "config" object, ` +
        `found keys ${Object.keys(config).join(', ') || 'none'}.`,
      { file: filename },
    );
  }
  return config as KerasModelConfig;
}

/**
 * Returns the compile config in the shape of a `.h5` training_config, which the engine
 * reads: every compile argument, and the optimizer as `optimizer_config`.
 */
export function trainingConfigOf(modelConfig: KerasModelConfig): TrainingConfig | null {
  const compileConfig = modelConfig.compile_config;
  if (!isPlainObject(compileConfig) || compileConfig.loss === undefined || compileConfig.loss === null) {
    return null;
  }
  const { optimizer, ...rest } = compileConfig;
  const trainingConfig: TrainingConfig = { ...rest, loss: rest.loss };
  if (isPlainObject(optimizer) && typeof optimizer.class_name === 'string' && isPlainObject(optimizer.config)) {
    trainingConfig.optimizer_config = { class_name: optimizer.class_name, config: optimizer.config };
  }
  return trainingConfig;
}

function hasOptimizerVariables(file: H5File): boolean {
  const vars = file.get('/optimizer/vars');
  return vars !== null && 'keys' in vars && vars.keys().length > 0;
}
