// Encoder for NumPy .npy files, format version 1.0. A file starts with the magic
// string "\x93NUMPY", the version bytes 1 and 0 and a little-endian uint16 header
// length. The header is a Python dict literal, padded with spaces and a newline so
// that the data starts on a 64-byte boundary, as numpy itself writes it.
import { endianness } from 'node:os';

/** An array to encode: a NumPy dtype string, a C-order shape and the matching typed array. */
export type NpyArray =
  | { dtype: '|u1'; shape: number[]; data: Uint8Array }
  | { dtype: '<f4'; shape: number[]; data: Float32Array }
  | { dtype: '<i8'; shape: number[]; data: BigInt64Array };

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const PREAMBLE_LENGTH = MAGIC.length + 2 + 2;
const ALIGNMENT = 64;
const MAX_HEADER_LENGTH = 0xffff;

function pythonTuple(shape: number[]): string {
  if (shape.length === 1) {
    return `(${shape[0]},)`;
  }
  return `(${shape.join(', ')})`;
}

/**
 * Encodes a C-order array as .npy bytes.
 * Throws when the element count of `shape` differs from the length of `data`.
 */
export function encodeNpy(array: NpyArray): Uint8Array {
  const count = array.shape.reduce((product, size) => product * size, 1);
  if (count !== array.data.length) {
    throw new Error(`npy: shape [${array.shape.join(', ')}] contains ${count} elements but data has ${array.data.length}`);
  }
  // The typed array's bytes are copied as they are in memory, and the dtypes declare little-endian.
  if (endianness() !== 'LE') {
    throw new Error('npy: this encoder writes little-endian dtypes and needs a little-endian CPU');
  }

  const dict = `{'descr': '${array.dtype}', 'fortran_order': False, 'shape': ${pythonTuple(array.shape)}, }`;
  const unpadded = PREAMBLE_LENGTH + dict.length + 1;
  const padding = (ALIGNMENT - (unpadded % ALIGNMENT)) % ALIGNMENT;
  const header = dict + ' '.repeat(padding) + '\n';
  if (header.length > MAX_HEADER_LENGTH) {
    throw new Error(`npy: header of ${header.length} bytes exceeds the version 1.0 limit of ${MAX_HEADER_LENGTH}`);
  }

  const payload = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  const out = new Uint8Array(PREAMBLE_LENGTH + header.length + payload.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), PREAMBLE_LENGTH);
  out.set(payload, PREAMBLE_LENGTH + header.length);
  return out;
}
