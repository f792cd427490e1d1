// Writes a clustered model as a Keras 3 `.keras` archive: the input archive with only the
// replaced variables of `model.weights.h5` changed. Every other member is written back
// with the same name, content and compression method, in the same order.
import { basename } from 'node:path';

import { CentroidError, isCentroidError } from '@centroid/contracts';

import { withModelArchive } from '../archive/model-archive.js';
import { writeZip } from '../archive/write-zip.js';
import { closeQuietly, describeH5Error, openH5File, readMemfsFile, removeMemfsFile, writeIntoMemfs } from '../hdf5/h5wasm.js';
import { defaultTimeoutMs, runIsolatedH5Task } from '../keras-h5/isolated.js';
import { checkReplacementSizes, encodeReplacements, overwriteDatasets } from '../keras-h5/write.js';
import { KERAS_ARCHIVE_KIND, WEIGHTS_MEMBER } from './read.js';

import type { ZipMember } from '../archive/write-zip.js';
import type { H5File } from '../hdf5/h5wasm.js';
import type { IsolationOptions } from '../keras-h5/isolated.js';
import type { WriteKerasH5Result, WriteWarning } from '../keras-h5/write.js';
import type { KerasArchiveFile } from '../model-types.js';

/**
 * Writes `source` to `outPath` with the variables in `replacements` (keyed by dataset
 * path in `model.weights.h5`) replaced, each in its own dtype. Optimizer variables are
 * kept, with the warning OPTIMIZER_STATE_KEPT, because Keras 3 skips saved optimizer
 * variables that do not fit the optimizer it builds but loads those that do. The output
 * appears at `outPath` only once complete.
 */
export async function writeKerasArchive(
  source: KerasArchiveFile,
  outPath: string,
  replacements: Map<string, Float32Array>,
  options: IsolationOptions = {},
): Promise<WriteKerasH5Result> {
  const encoded = encodeReplacements(source, replacements);
  const timeoutMs = options.timeoutMs ?? (await defaultTimeoutMs(source.path));
  const result = await runIsolatedH5Task<WriteKerasH5Result>(
    'writeKerasArchive',
    [source.path, source.filename, outPath, encoded],
    timeoutMs,
    { filename: source.filename, activity: 'writing the clustered .keras archive', failureCode: 'INTERNAL' },
  );
  const warnings: WriteWarning[] = [...result.warnings];
  if (source.hasOptimizerState) {
    warnings.push({
      code: 'OPTIMIZER_STATE_KEPT',
      message:
        `The optimizer variables of ${source.filename} were kept in model.weights.h5. They are stale for the clustered ` +
        'weights, so load the model with compile=False, or recompile it, before training it further.',
    });
  }
  return { warnings };
}

/** Writes the clustered archive in this process; `writeKerasArchive` runs this in a child process. */
export async function writeKerasArchiveInProcess(
  sourcePath: string,
  filename: string,
  outPath: string,
  replacements: Map<string, Uint8Array>,
): Promise<WriteKerasH5Result> {
  const members = await withModelArchive(sourcePath, filename, KERAS_ARCHIVE_KIND, {}, async (archive) => {
    const read: ZipMember[] = [];
    for (const entry of archive.entries) {
      const bytes = await archive.read(entry);
      const replaced = entry.name === WEIGHTS_MEMBER ? await replaceVariables(bytes, filename, replacements) : bytes;
      read.push({ name: entry.name, bytes: replaced, deflate: entry.method === 8 });
    }
    return read;
  });
  if (!members.some((member) => member.name === WEIGHTS_MEMBER)) {
    throw new CentroidError('MODEL_INVALID', `${filename} has no ${WEIGHTS_MEMBER} member.`, { file: filename });
  }
  await writeZip(outPath, members);
  return { warnings: [] };
}

async function replaceVariables(bytes: Uint8Array, filename: string, replacements: Map<string, Uint8Array>): Promise<Uint8Array> {
  const memfsPath = await writeIntoMemfs(bytes);
  let file: H5File | null = null;
  try {
    file = openH5File(memfsPath, 'r');
    checkReplacementSizes(file, replacements, filename);
    closeQuietly(file);
    file = null;
    overwriteDatasets(memfsPath, replacements);
    return readMemfsFile(memfsPath);
  } catch (error) {
    if (isCentroidError(error)) {
      throw error;
    }
    throw new CentroidError(
      'INTERNAL',
      `${filename}: writing the clustered ${WEIGHTS_MEMBER} to ${basename(filename)} failed: ${describeH5Error(error)}`,
      { file: filename },
      { cause: error },
    );
  } finally {
    closeQuietly(file);
    removeMemfsFile(memfsPath);
  }
}
