// Raw access to HDF5 dataset values. h5wasm reads and writes in the dataset's own type
// with little-endian byte order, and it has no typed array for float16, so this module
// moves bytes and leaves decoding to the caller.
import { loadedH5wasm } from './h5wasm.js';

import type { H5File, Metadata } from './h5wasm.js';

/** Shape and storage size of a dataset, as the file declares them. */
export interface DatasetLayout {
  /** Dimensions; `[]` for a scalar dataset. */
  shape: number[];
  /** Bytes per element. */
  elementSize: number;
  elementCount: number;
  byteLength: number;
  metadata: Metadata;
}

/** Reads a dataset's shape, element type and size without reading its values. */
export function readDatasetLayout(file: H5File, datasetPath: string): DatasetLayout {
  const metadata = loadedH5wasm().get_dataset_metadata(file.file_id, datasetPath);
  const shape = metadata.shape ?? [];
  const elementCount = metadata.shape === null ? 0 : shape.reduce((product, dimension) => product * dimension, 1);
  return { shape, elementSize: metadata.size, elementCount, byteLength: elementCount * metadata.size, metadata };
}

/** Reads every value of a dataset as raw little-endian bytes of its element type. */
export function readDatasetBytes(file: H5File, datasetPath: string, layout = readDatasetLayout(file, datasetPath)): Uint8Array {
  if (layout.byteLength === 0) {
    return new Uint8Array(0);
  }

  const module = loadedH5wasm();
  const pointer = allocate(layout.byteLength);
  try {
    module.get_dataset_data(file.file_id, datasetPath, null, null, null, BigInt(pointer));
    return module.HEAPU8.slice(pointer, pointer + layout.byteLength);
  } finally {
    module._free(pointer);
  }
}

/**
 * Overwrites every value of a dataset with raw little-endian bytes of its element type.
 * The file must be open for writing, and `bytes` must hold exactly the dataset's size.
 */
export function writeDatasetBytes(file: H5File, datasetPath: string, bytes: Uint8Array): void {
  const layout = readDatasetLayout(file, datasetPath);
  if (bytes.byteLength !== layout.byteLength) {
    throw new Error(`${datasetPath} has ${layout.byteLength} bytes, but ${bytes.byteLength} bytes were given to write`);
  }
  if (layout.byteLength === 0) {
    return;
  }

  const module = loadedH5wasm();
  const pointer = allocate(bytes.byteLength);
  try {
    module.HEAPU8.set(bytes, pointer);
    module.set_dataset_data(file.file_id, datasetPath, null, null, null, BigInt(pointer));
  } finally {
    module._free(pointer);
  }
}

function allocate(byteLength: number): number {
  const module = loadedH5wasm();
  if (byteLength > module.MAXIMUM_MEMORY) {
    throw new Error(`cannot allocate ${byteLength} bytes: h5wasm memory is limited to ${module.MAXIMUM_MEMORY} bytes`);
  }
  const pointer = module._malloc(byteLength);
  if (pointer === 0) {
    throw new Error(`h5wasm could not allocate ${byteLength} bytes`);
  }
  return pointer;
}
