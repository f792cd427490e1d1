// One entry point for every model format: detects the format of an upload, reads it,
// and writes a clustered model in the same or another format.
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';

import { CentroidError } from '@centroid/contracts';

import { withModelArchive } from './archive/model-archive.js';
import { findHdf5Signature, guessFormat, readFileStart, toHex } from './file-signature.js';
import { checkJsonMemberSize } from './keras-archive/archive-json.js';
import { CONFIG_MEMBER, METADATA_MEMBER, readKerasArchive, WEIGHTS_MEMBER } from './keras-archive/read.js';
import { createKerasArchive } from './keras-archive/create-archive.js';
import { describeUnsupportedKeras3Layers, findUnsupportedKeras3Layers } from './keras-archive/keras3-config.js';
import { reportUnsupportedLayersFirst } from './keras-archive/unsupported-layers.js';
import { writeKerasArchive } from './keras-archive/write.js';
import { readKerasH5 } from './keras-h5/read.js';
import { createKerasH5 } from './keras-h5/create.js';
import { writeKerasH5 } from './keras-h5/write.js';
import { MODEL_JSON } from './tfjs/container.js';
import { readTfjsModel } from './tfjs/read.js';
import { writeTfjsModel } from './tfjs/write.js';

import type { ArchiveLimits } from './archive/model-archive.js';
import type { IsolationOptions } from './keras-h5/isolated.js';
import type { KerasModelConfig } from './keras-h5/types.js';
import type { WriteKerasH5Result } from './keras-h5/write.js';
import type { ModelFile, ModelFormat } from './model-types.js';

export type ReadModelOptions = IsolationOptions & ArchiveLimits;

const SUPPORTED_FORMATS_HINT =
  'Upload a Keras model saved with model.save("model.h5") or model.save("model.keras"), or a TF.js layers model ' +
  '(model.json and its weight shards, zipped).';

/**
 * Returns the format of the model at `path`. A folder or a JSON file is a TF.js model,
 * and a file with an HDF5 signature is Keras HDF5. A zip is a `.keras` archive when it
 * has `config.json` and `model.weights.h5`, or a zipped TF.js model when it has a
 * `model.json`. Raises MODEL_FORMAT_UNSUPPORTED for anything else, naming what the
 * file looks like, and MODEL_INVALID for an empty file, a damaged zip or a `.keras`
 * archive whose config.json or metadata.json declares more than MAX_JSON_MEMBER_BYTES.
 */
export async function detectModelFormat(path: string, filename: string = basename(path)): Promise<ModelFormat> {
  if ((await stat(path)).isDirectory()) {
    return 'tfjs';
  }
  if ((await findHdf5Signature(path)) !== null) {
    return 'keras_h5';
  }

  const start = await readFileStart(path);
  if (start.length === 0) {
    throw new CentroidError('MODEL_INVALID', `${filename} is empty (0 bytes); expected a model file.`, { file: filename });
  }
  if (start[0] === 0x50 && start[1] === 0x4b) {
    return detectArchiveFormat(path, filename);
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(start).trimStart();
  if (text.startsWith('{')) {
    return 'tfjs';
  }

  const guess = guessFormat(start);
  const looksLike = guess === null ? '' : ` It looks like ${guess}.`;
  throw new CentroidError(
    'MODEL_FORMAT_UNSUPPORTED',
    `${filename} is not a model file that Centroid reads: it starts with ${toHex(start.subarray(0, 8))}.${looksLike} ${SUPPORTED_FORMATS_HINT}`,
    { file: filename },
  );
}

async function detectArchiveFormat(path: string, filename: string): Promise<ModelFormat> {
  const entries = await withModelArchive(path, filename, 'zip archive', {}, async (archive) => archive.entries);
  const names = entries.map((entry) => entry.name);
  if (names.includes(CONFIG_MEMBER) && names.includes(WEIGHTS_MEMBER)) {
    // An oversized config is rejected here, from the central directory alone, so that
    // callers do not first start the child process that reads the archive.
    for (const entry of entries.filter(({ name }) => name === CONFIG_MEMBER || name === METADATA_MEMBER)) {
      checkJsonMemberSize(entry, filename);
    }
    return 'keras';
  }
  if (names.some((name) => name === MODEL_JSON || name.endsWith(`/${MODEL_JSON}`))) {
    return 'tfjs';
  }
  const listed = names.slice(0, 10).map((name) => `"${name}"`).join(', ') || 'no members';
  const npz = names.length > 0 && names.every((name) => name.endsWith('.npy'));
  const dataset = npz ? ' It holds only .npy arrays, so it looks like an NPZ dataset: send it as the dataset (the part dataset, or --data in the CLI).' : '';
  throw new CentroidError(
    'MODEL_FORMAT_UNSUPPORTED',
    `${filename} is a zip archive but neither a Keras 3 .keras archive (config.json and model.weights.h5) nor a zipped ` +
      `TF.js model (model.json); it contains ${listed}.${dataset} ${SUPPORTED_FORMATS_HINT}`,
    { file: filename },
  );
}

/**
 * Reads a model in any supported format; see `detectModelFormat` for how the format is
 * chosen. A `.keras` archive whose weights do not fit its config raises
 * MODEL_LAYER_UNSUPPORTED when its config has layers TF.js cannot build, because those
 * layers explain the mismatch, and MODEL_WEIGHTS_MISMATCH otherwise.
 */
export async function readModel(path: string, filename: string = basename(path), options: ReadModelOptions = {}): Promise<ModelFile> {
  const format = await detectModelFormat(path, filename);
  switch (format) {
    case 'keras_h5':
      return readKerasH5(path, filename, options);
    case 'keras': {
      const limits: ArchiveLimits = options.maxExpandedBytes === undefined ? {} : { maxExpandedBytes: options.maxExpandedBytes };
      return reportUnsupportedLayersFirst(path, filename, limits, () => readKerasArchive(path, filename, options));
    }
    case 'tfjs':
      return readTfjsModel(path, filename, options);
  }
}

/** File name of the clustered model in each output format. */
export const MODEL_ARTIFACT_NAMES: Record<ModelFormat, string> = {
  keras_h5: 'model.h5',
  keras: 'model.keras',
  tfjs: 'model.tfjs.zip',
};

/** Content type of the clustered model in each output format. */
export const MODEL_CONTENT_TYPES: Record<ModelFormat, string> = {
  keras_h5: 'application/x-hdf5',
  keras: 'application/zip',
  tfjs: 'application/zip',
};

/**
 * Writes `source` in `format` at `outPath` with the weights in `replacements` (keyed by
 * `WeightEntry.datasetPath`) replaced. A model written in its own format keeps every
 * other byte of its weights. Every format can be written from every other, and weights
 * keep their storage type where the format has it (float16 in every format). A `.keras`
 * archive holds only the layer types that `toKeras3ModelConfig` translates
 * (MODEL_LAYER_UNSUPPORTED otherwise).
 */
export async function writeModel(
  source: ModelFile,
  format: ModelFormat,
  outPath: string,
  replacements: Map<string, Float32Array>,
): Promise<WriteKerasH5Result> {
  if (format === 'tfjs') {
    return writeTfjsModel(source, outPath, replacements);
  }
  if (format === 'keras_h5') {
    return source.format === 'keras_h5' ? writeKerasH5(source, outPath, replacements) : createKerasH5(source, outPath, replacements);
  }
  return source.format === 'keras' ? writeKerasArchive(source, outPath, replacements) : createKerasArchive(source, outPath, replacements);
}

/**
 * Returns whether `writeModel` can write a model of `sourceFormat` in `format`. It can for
 * every pair; for `.keras`, layer types can still stop a conversion.
 */
export function canWriteFormat(_sourceFormat: ModelFormat, _format: ModelFormat): boolean {
  return true;
}

/**
 * Returns why a model of `sourceFormat` cannot be written in `format`, as a phrase that
 * follows the file name, or null when it can. With `modelConfig`, a conversion into
 * `.keras` checks that every layer type has a Keras 3 translation. Every weight storage
 * type converts into every format, so `_weights` is not read.
 */
export function outputFormatProblem(
  sourceFormat: ModelFormat,
  format: ModelFormat,
  _weights: readonly { dtype: string }[],
  modelConfig?: KerasModelConfig,
): string | null {
  if (format === 'keras' && sourceFormat !== 'keras' && modelConfig !== undefined) {
    const unsupported = findUnsupportedKeras3Layers(modelConfig);
    if (unsupported.length > 0) {
      return describeUnsupportedKeras3Layers(unsupported);
    }
  }
  return null;
}

export function describeFormat(format: ModelFormat): string {
  return { keras_h5: 'Keras HDF5 model (.h5)', keras: 'Keras 3 archive (.keras)', tfjs: 'TF.js layers model' }[format];
}
