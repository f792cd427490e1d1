// Builders of `.npy` and zip bytes for the hostile-input, writer and fuzz tests. Their
// headers may lie on purpose, which no real writer allows.
import { constants, crc32, deflateRawSync } from 'node:zlib';

import { deflateSync } from 'fflate';

/** Builds an `.npy` file (format 1.0) from a header dict literal and raw values. */
export function buildNpy(header: string, data: Uint8Array): Uint8Array {
  const unpadded = 10 + header.length + 1;
  const text = header + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const bytes = new Uint8Array(10 + text.length + data.length);
  bytes.set([0x93, ...Buffer.from('NUMPY'), 1, 0]);
  new DataView(bytes.buffer).setUint16(8, text.length, true);
  bytes.set(Buffer.from(text, 'latin1'), 10);
  bytes.set(data, 10 + text.length);
  return bytes;
}

/** Returns the header dict literal that NumPy writes for `descr` and `shape`. */
export function npyHeader(descr: string, shape: number[], fortranOrder = false): string {
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  return `{'descr': '${descr}', 'fortran_order': ${fortranOrder ? 'True' : 'False'}, 'shape': ${tuple}, }`;
}

/** Returns the bytes of a typed array, without copying. */
export function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

export interface ZipMember {
  name: string;
  data: Uint8Array;
  method: 0 | 8;
  /** Deflate stream written as is in place of `data` deflated; give `declaredSize` and `crc` with it. */
  deflated?: Uint8Array;
  /** Uncompressed size written to the headers; defaults to the true size. */
  declaredSize?: number;
  /** CRC-32 written to the headers; defaults to the true CRC. */
  crc?: number;
}

/** Builds a plain (not Zip64) zip archive of the members, with their names as given. */
export function buildZip(members: ZipMember[]): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;

  for (const member of members) {
    const name = Buffer.from(member.name);
    const stored = member.deflated ?? (member.method === 8 ? deflateSync(member.data) : member.data);
    const crc = member.crc ?? crc32(member.data);
    const size = member.declaredSize ?? member.data.length;

    const local = new Uint8Array(30 + name.length + stored.length);
    const localView = new DataView(local.buffer);
    localView.setUint32(0, 0x04034b50, true);
    localView.setUint16(4, 20, true);
    localView.setUint16(8, member.method, true);
    localView.setUint32(14, crc, true);
    localView.setUint32(18, stored.length, true);
    localView.setUint32(22, size, true);
    localView.setUint16(26, name.length, true);
    local.set(name, 30);
    local.set(stored, 30 + name.length);

    const central = new Uint8Array(46 + name.length);
    const centralView = new DataView(central.buffer);
    centralView.setUint32(0, 0x02014b50, true);
    centralView.setUint16(4, 20, true);
    centralView.setUint16(6, 20, true);
    centralView.setUint16(10, member.method, true);
    centralView.setUint32(16, crc, true);
    centralView.setUint32(20, stored.length, true);
    centralView.setUint32(24, size, true);
    centralView.setUint16(28, name.length, true);
    centralView.setUint32(42, offset, true);
    central.set(name, 46);

    locals.push(local);
    centrals.push(central);
    offset += local.length;
  }

  const directorySize = centrals.reduce((sum, central) => sum + central.length, 0);
  const end = new Uint8Array(22);
  const endView = new DataView(end.buffer);
  endView.setUint32(0, 0x06054b50, true);
  endView.setUint16(8, members.length, true);
  endView.setUint16(10, members.length, true);
  endView.setUint32(12, directorySize, true);
  endView.setUint32(16, offset, true);
  return Buffer.concat([...locals, ...centrals, end]);
}

/** Yields `bytes` in chunks of `size` bytes, as a network stream would deliver them. */
export async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let start = 0; start < bytes.length; start += size) {
    yield bytes.subarray(start, Math.min(bytes.length, start + size));
  }
}

/**
 * Returns a raw deflate stream that inflates to `prefix` and then continues with
 * `invalidBytes` bytes of 0xFF, an invalid block type. A reader that inflates past
 * `prefix` raises a corrupt-data error, so a test can show where reading stopped.
 */
export function deflateThenCorrupt(prefix: Uint8Array, invalidBytes: number): Uint8Array {
  // A sync flush ends the stream without a final block and on a byte boundary, so the
  // next byte starts a new block header.
  const valid = deflateRawSync(prefix, { finishFlush: constants.Z_SYNC_FLUSH });
  return Buffer.concat([valid, new Uint8Array(invalidBytes).fill(0xff)]);
}
