// Reader for IDX files, the format of the original MNIST distribution: a 4-byte
// magic number (two zero bytes, the element type, the rank), one big-endian uint32
// per dimension, then the elements in row-major order.
import { gunzipSync } from 'node:zlib';
import { readFile } from 'node:fs/promises';

/** An IDX file of unsigned bytes with its stored shape. */
export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

const UNSIGNED_BYTE_TYPE = 0x08;

/** Parses IDX bytes of element type unsigned byte. Gzipped input is decompressed first. */
export function parseIdx(bytes: Uint8Array, source = 'IDX input'): IdxArray {
  let raw = bytes;
  if (raw[0] === 0x1f && raw[1] === 0x8b) {
    raw = gunzipSync(raw);
  }

  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0) {
    throw new Error(`${source}: invalid IDX header, expected two zero bytes then the type and rank`);
  }
  if (raw[2] !== UNSIGNED_BYTE_TYPE) {
    throw new Error(`${source}: unsupported IDX element type 0x${raw[2]?.toString(16)}, expected 0x08 (unsigned byte)`);
  }

  const rank = raw[3] ?? 0;
  const headerLength = 4 + 4 * rank;
  if (raw.length < headerLength) {
    throw new Error(`${source}: truncated IDX header, expected ${headerLength} bytes for rank ${rank}`);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const shape: number[] = [];
  for (let axis = 0; axis < rank; axis++) {
    shape.push(view.getUint32(4 + 4 * axis, false));
  }

  const expected = shape.reduce((product, size) => product * size, 1);
  const found = raw.length - headerLength;
  if (found !== expected) {
    throw new Error(`${source}: header declares shape [${shape.join(', ')}] (${expected} bytes) but ${found} bytes follow`);
  }
  return { shape, data: raw.subarray(headerLength) };
}

/** Reads and parses one IDX file. */
export async function readIdx(path: string): Promise<IdxArray> {
  return parseIdx(await readFile(path), path);
}
