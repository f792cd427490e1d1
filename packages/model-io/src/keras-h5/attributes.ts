// Reads the string attributes that Keras writes. h5py 3 stores them as variable-length
// strings, and older h5py versions as fixed-length byte strings. h5wasm returns both as
// JavaScript strings, but an empty list as an empty numeric array.
import { CentroidError } from '@centroid/contracts';

import type { Group } from '../hdf5/h5wasm.js';

function hasAttribute(group: Group, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(group.attrs, name);
}

function describeValue(value: unknown): string {
  if (ArrayBuffer.isView(value)) {
    return `a ${value.constructor.name} of ${(value as Uint8Array).length} values`;
  }
  return Array.isArray(value) ? `a list of ${value.length} values` : `a ${typeof value}`;
}

/** Reads a string attribute, or returns null when `group` has no attribute of that name. */
export function readStringAttribute(group: Group, name: string, filename: string): string | null {
  if (!hasAttribute(group, name)) {
    return null;
  }

  const value = group.attrs[name]?.value;
  if (typeof value === 'string') {
    return value;
  }
  if (value instanceof Uint8Array) {
    return new TextDecoder().decode(value);
  }
  if (Array.isArray(value) && value.length === 1 && typeof value[0] === 'string') {
    return value[0];
  }
  throw new CentroidError(
    'MODEL_INVALID',
    `${filename}: attribute "${name}" of ${group.path} should be a string, but it is ${describeValue(value)}.`,
    { file: filename },
  );
}

/** Reads a list-of-strings attribute, or returns null when `group` has no attribute of that name. */
export function readStringListAttribute(group: Group, name: string, filename: string): string[] | null {
  if (!hasAttribute(group, name)) {
    return null;
  }

  const value = group.attrs[name]?.value;
  if (typeof value === 'string') {
    return [value];
  }
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) {
    return value as string[];
  }
  // h5py writes an empty Python list as an empty float64 array.
  if (ArrayBuffer.isView(value) && (value as Uint8Array).length === 0) {
    return [];
  }
  throw new CentroidError(
    'MODEL_INVALID',
    `${filename}: attribute "${name}" of ${group.path} should be a list of strings, but it is ${describeValue(value)}.`,
    { file: filename },
  );
}
