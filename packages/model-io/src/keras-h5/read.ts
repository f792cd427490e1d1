// Reads a whole Keras HDF5 model file: root attributes, configs and every weight tensor.
import { basename } from 'node:path';

import { assertHdf5File } from '../file-signature.js';
import { float16ToFloat32 } from '../float16.js';
import { readDatasetBytes } from '../hdf5/dataset-bytes.js';
import { defaultTimeoutMs, runIsolatedH5Task } from './isolated.js';
import { readModelMetadata } from './metadata.js';
import { withKerasH5File } from './open.js';
import { readWeightIndex } from './weight-index.js';

import type { H5File } from '../hdf5/h5wasm.js';
import type { IsolationOptions } from './isolated.js';
import type { KerasModelFile, WeightEntry } from './types.js';
import type { WeightDescriptor } from './weight-index.js';

/**
 * Reads a Keras HDF5 model saved by tf.keras, tf_keras or Keras 3 with
 * `model.save("model.h5")`. Raises MODEL_FORMAT_UNSUPPORTED for a file that is not HDF5,
 * and MODEL_INVALID for a damaged file, a weights-only file or an unparsable config.
 * `filename` defaults to the last part of `path`. The HDF5 library runs in a child
 * process that is killed after `options.timeoutMs`.
 */
export async function readKerasH5(
  path: string,
  filename: string = basename(path),
  options: IsolationOptions = {},
): Promise<KerasModelFile> {
  await assertHdf5File(path, filename);
  const timeoutMs = options.timeoutMs ?? (await defaultTimeoutMs(path));
  return runIsolatedH5Task<KerasModelFile>('readKerasH5', [path, filename], timeoutMs, {
    filename,
    activity: 'reading the HDF5 file',
    failureCode: 'MODEL_INVALID',
  });
}

/** Reads a Keras HDF5 model in this process; `readKerasH5` runs this in a child process. */
export async function readKerasH5InProcess(path: string, filename: string): Promise<KerasModelFile> {
  return withKerasH5File(path, filename, (file) => {
    const metadata = readModelMetadata(file, filename);
    const weights = readWeightIndex(file, filename).weights.map((descriptor) => readWeight(file, descriptor));
    return { format: 'keras_h5', path, filename, ...metadata, weights };
  });
}

function readWeight(file: H5File, descriptor: WeightDescriptor): WeightEntry {
  const bytes = readDatasetBytes(file, descriptor.datasetPath);
  return { ...descriptor, values: decodeFloats(bytes, descriptor.dtype) };
}

/** Decodes little-endian float16, float32 or float64 bytes into float32 values. */
export function decodeFloats(bytes: Uint8Array, dtype: WeightEntry['dtype']): Float32Array {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer);
    case 'float64':
      return Float32Array.from(new Float64Array(buffer));
    case 'float16':
      return float16ToFloat32(new Uint16Array(buffer));
  }
}
