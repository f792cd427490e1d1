// Copies the groups, datasets and attributes of one HDF5 file into a fresh one, leaving
// out chosen subtrees. h5wasm 0.10 cannot delete a link, and deleting an object would not
// shrink an HDF5 file anyway, so a file without those subtrees has to be written anew.
//
// h5wasm 0.10 creates integers, float32, float64 and strings, but not float16 or compound
// types. Before copying, `findUncopyableObject` looks for anything it cannot create, so
// that a caller can choose another way instead of failing halfway.
import { loadedH5wasm } from './h5wasm.js';
import { readDatasetBytes, readDatasetLayout } from './dataset-bytes.js';

import type { Dataset, Group, H5File, Metadata } from './h5wasm.js';

export interface CopyTreeOptions {
  /** Absolute paths of groups or datasets to leave out, such as `/optimizer_weights`. */
  exclude: Set<string>;
  /** Returns raw little-endian bytes to write instead of a dataset's own values, or undefined to copy them. */
  replacementBytes: (datasetPath: string) => Uint8Array | undefined;
}

/** HDF5 datatype class numbers, as h5wasm reports them in `Metadata.type`. */
const H5T_INTEGER = 0;
const H5T_FLOAT = 1;
const H5T_STRING = 3;
const DEFLATE_FILTER_ID = 1;

/** Unlimited dimension size in h5wasm write metadata (H5S_UNLIMITED). */
const H5S_UNLIMITED = 18446744073709551615n;

function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

function describeTypeProblem(metadata: Metadata): string | null {
  if (metadata.type === H5T_INTEGER) {
    return null;
  }
  if (metadata.type === H5T_FLOAT) {
    return metadata.size === 4 || metadata.size === 8 ? null : `float${metadata.size * 8} values, which h5wasm cannot create`;
  }
  if (metadata.type === H5T_STRING) {
    return null;
  }
  return `HDF5 type class ${metadata.type}, which h5wasm cannot create`;
}

function isFixedShape(metadata: Metadata): boolean {
  const shape = metadata.shape ?? [];
  const maxshape = metadata.maxshape ?? shape;
  return shape.length === maxshape.length && shape.every((size, index) => maxshape[index] === size);
}

/**
 * Returns a phrase describing the first object that `copyTree` could not reproduce,
 * or null when it can copy everything outside `exclude`.
 */
export function findUncopyableObject(file: H5File, exclude: Set<string>): string | null {
  const module = loadedH5wasm();

  const checkAttributes = (path: string): string | null => {
    for (const name of module.get_attribute_names(file.file_id, path)) {
      const metadata = module.get_attribute_metadata(file.file_id, path, name);
      const problem = metadata.shape === null ? 'an empty dataspace' : describeTypeProblem(metadata);
      if (problem !== null) {
        return `attribute "${name}" of ${path} has ${problem}`;
      }
    }
    return null;
  };

  const visit = (path: string): string | null => {
    const attributeProblem = checkAttributes(path);
    if (attributeProblem !== null) {
      return attributeProblem;
    }

    const group = file.get(path);
    if (group === null || !('keys' in group)) {
      return null;
    }
    for (const name of group.keys()) {
      const memberPath = childPath(path, name);
      if (exclude.has(memberPath)) {
        continue;
      }
      const entity = group.get(name);
      if (entity === null || !('type' in entity) || (entity.type !== 'Group' && entity.type !== 'Dataset')) {
        return `${memberPath} is a link or a named datatype, which is not copied`;
      }
      if (entity.type === 'Dataset') {
        const layout = readDatasetLayout(file, memberPath);
        const problem =
          describeTypeProblem(layout.metadata) ??
          (layout.metadata.vlen ? 'variable-length values' : null) ??
          (isFixedShape(layout.metadata) ? null : 'a resizable shape') ??
          describeFilterProblem(file, memberPath);
        if (problem !== null) {
          return `dataset ${memberPath} has ${problem}`;
        }
        const datasetAttributeProblem = checkAttributes(memberPath);
        if (datasetAttributeProblem !== null) {
          return datasetAttributeProblem;
        }
        continue;
      }
      const nested = visit(memberPath);
      if (nested !== null) {
        return nested;
      }
    }
    return null;
  };

  return visit('/');
}

function describeFilterProblem(file: H5File, datasetPath: string): string | null {
  const filters = loadedH5wasm().get_dataset_filters(file.file_id, datasetPath);
  const other = filters.find((filter) => filter.id !== DEFLATE_FILTER_ID);
  return other === undefined ? null : `the ${other.name || `id ${other.id}`} filter, which h5wasm cannot apply`;
}

/** Copies `source` into the empty file `target`, except the paths in `options.exclude`. */
export function copyTree(source: H5File, target: H5File, options: CopyTreeOptions): void {
  copyAttributes(source, target, '/');
  copyGroupMembers(source, target, '/', options);
}

function copyGroupMembers(source: H5File, target: H5File, path: string, options: CopyTreeOptions): void {
  const group = source.get(path);
  if (group === null || !('keys' in group)) {
    return;
  }

  // h5py creates groups without link creation order, so HDF5 lists members by name,
  // and creating them in that order keeps the listing the same.
  for (const name of group.keys()) {
    const memberPath = childPath(path, name);
    if (options.exclude.has(memberPath)) {
      continue;
    }

    const entity = group.get(name);
    if (entity !== null && 'type' in entity && entity.type === 'Group') {
      loadedH5wasm().create_group(target.file_id, memberPath, false);
      copyAttributes(source, target, memberPath);
      copyGroupMembers(source, target, memberPath, options);
    } else if (entity !== null && 'type' in entity && entity.type === 'Dataset') {
      copyDataset(source, target, memberPath, options.replacementBytes(memberPath));
      copyAttributes(source, target, memberPath);
    } else {
      throw new Error(`cannot copy ${memberPath}: it is a link or a named datatype`);
    }
  }
}

function toWriteShape(shape: number[]): bigint[] {
  return shape.map((size) => BigInt(size));
}

function copyDataset(source: H5File, target: H5File, datasetPath: string, replacement: Uint8Array | undefined): void {
  const module = loadedH5wasm();
  const layout = readDatasetLayout(source, datasetPath);
  const bytes = replacement ?? readDatasetBytes(source, datasetPath, layout);
  if (bytes.byteLength !== layout.byteLength) {
    throw new Error(`replacement for ${datasetPath} has ${bytes.byteLength} bytes; the dataset has ${layout.byteLength}`);
  }

  const deflate = module.get_dataset_filters(source.file_id, datasetPath).find((filter) => filter.id === DEFLATE_FILTER_ID);
  const shape = toWriteShape(layout.shape);
  const metadata = {
    ...layout.metadata,
    littleEndian: true,
    shape,
    maxshape: (layout.metadata.maxshape ?? layout.shape).map((size) => (size === null ? H5S_UNLIMITED : BigInt(size))),
    chunks: layout.metadata.chunks,
    ...(deflate === undefined ? {} : { compression: DEFLATE_FILTER_ID, compression_opts: deflate.cd_values }),
  };

  withHeapCopy(bytes, (pointer) => {
    module.create_dataset(target.file_id, datasetPath, BigInt(pointer), metadata as never);
  });
}

function copyAttributes(source: H5File, target: H5File, path: string): void {
  const module = loadedH5wasm();
  for (const name of module.get_attribute_names(source.file_id, path)) {
    const metadata = module.get_attribute_metadata(source.file_id, path, name);
    const shape = metadata.shape ?? [];
    const writeMetadata = { ...metadata, littleEndian: true, shape: toWriteShape(shape), maxshape: toWriteShape(shape) };

    if (metadata.type === H5T_STRING && metadata.vlen) {
      const owner = source.get(path) as Group | Dataset;
      const value = owner.attrs[name]?.value;
      const strings = Array.isArray(value) ? (value as string[]) : [value as string];
      module.create_vlen_str_attribute(target.file_id, path, name, strings, writeMetadata as never);
      continue;
    }

    const elementCount = shape.reduce((product, size) => product * size, 1);
    const bytes = readAttributeBytes(source, path, name, elementCount * metadata.size);
    withHeapCopy(bytes, (pointer) => {
      module.create_attribute(target.file_id, path, name, BigInt(pointer), writeMetadata as never);
    });
  }
}

function readAttributeBytes(file: H5File, path: string, name: string, byteLength: number): Uint8Array {
  const module = loadedH5wasm();
  let bytes = new Uint8Array(0);
  withHeapCopy(new Uint8Array(byteLength), (pointer) => {
    if (byteLength > 0) {
      module.get_attribute_data(file.file_id, path, name, BigInt(pointer));
    }
    bytes = module.HEAPU8.slice(pointer, pointer + byteLength);
  });
  return bytes;
}

/**
 * Copies `bytes` into the WebAssembly heap for the duration of `use`. Allocates at least
 * one byte, because malloc(0) may return a null pointer, which h5wasm treats as a failure.
 */
function withHeapCopy(bytes: Uint8Array, use: (pointer: number) => void): void {
  const module = loadedH5wasm();
  const pointer = module._malloc(Math.max(1, bytes.byteLength));
  if (pointer === 0) {
    throw new Error(`h5wasm could not allocate ${bytes.byteLength} bytes`);
  }
  try {
    module.HEAPU8.set(bytes, pointer);
    use(pointer);
  } finally {
    module._free(pointer);
  }
}
