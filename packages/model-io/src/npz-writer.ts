// Packs `.npy` streams into an `.npz` archive with stored (uncompressed) members, one chunk
// at a time, so that separately uploaded arrays become one dataset without ever being held
// in memory whole. Each member's `.npy` header is checked as it streams through, and its
// size against the header at its end.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { crc32 } from 'node:zlib';

import { CentroidError } from '@centroid/contracts';

import { invalidArray, npyHeaderLength, parseNpyHeader } from './npy.js';
import { unsafeEntryNameReason } from './zip.js';

import type { NdArrayInfo } from './npz.js';
import type { NpyContext, NpyHeader } from './npy.js';

/** Receiver of the archive's bytes, in order. The writer sends the next chunk only after the returned promise settles. */
export type NpzChunkSink = (chunk: Uint8Array) => Promise<void>;

/** Central directory fields of a member already written. */
interface WrittenMember {
  nameBytes: Uint8Array;
  crc32: number;
  size: number;
  localHeaderOffset: number;
}

const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const DATA_DESCRIPTOR_SIGNATURE = 0x08074b50;
const CENTRAL_ENTRY_SIGNATURE = 0x02014b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_EXTRA_ID = 0x0001;

/** Bit 3: sizes and CRC-32 follow the data in a data descriptor. Bit 11: the name is UTF-8. */
const FLAGS = 0x0008 | 0x0800;
/** Version 4.5, the first with Zip64. */
const VERSION = 45;
/** 1980-01-01 00:00 in MS-DOS format, the earliest date a zip header can hold. */
const DOS_DATE = (1 << 5) | 1;
const UINT16_MAX = 0xffff;
const UINT32_MAX = 0xffffffff;

/**
 * Writes an `.npz` archive to `sink`: call `addNpy` once per array, then `finish`. Members
 * are stored with data descriptors, as a streaming zip writer must, and Zip64 records are
 * added only where a size or offset needs them. NumPy's `np.load` and `readNpz` read the
 * sizes from the central directory.
 */
export class NpzWriter {
  private offset = 0;
  private readonly members: WrittenMember[] = [];
  private readonly names = new Set<string>();

  constructor(private readonly sink: NpzChunkSink) {}

  /**
   * Streams one `.npy` file into the archive as member `<name>.npy` and returns its dtype
   * and shape. Raises DATASET_INVALID naming `filename` when the data is not a valid
   * `.npy` file or its size differs from what its header declares. It reads `source` to
   * its end before raising, so that a multipart parser can go on to the next part.
   * After it raises, the archive is incomplete and must be discarded.
   */
  async addNpy(name: string, source: AsyncIterable<Uint8Array>, filename: string): Promise<NdArrayInfo> {
    const entryName = `${name}.npy`;
    const reason = unsafeEntryNameReason(entryName);
    if (reason !== null) {
      throw new CentroidError('DATASET_INVALID', `Array name ${JSON.stringify(name)} cannot name an NPZ member: ${reason}.`, {
        file: filename,
      });
    }
    if (this.names.has(name)) {
      throw new CentroidError('DATASET_INVALID', `Array "${name}" was added to the NPZ twice; each array needs its own name.`, {
        file: filename,
      });
    }
    this.names.add(name);

    const nameBytes = new TextEncoder().encode(entryName);
    const localHeaderOffset = this.offset;
    await this.emit(localHeader(nameBytes));

    const checker = new NpyStreamCheck({ filename, name });
    let checksum = 0;
    let size = 0;
    for await (const chunk of source) {
      if (checker.failed()) {
        continue;
      }
      checker.push(chunk);
      checksum = crc32(chunk, checksum);
      size += chunk.length;
      await this.emit(chunk);
    }
    const header = checker.finish(size);

    await this.emit(dataDescriptor(checksum >>> 0, size));
    this.members.push({ nameBytes, crc32: checksum >>> 0, size, localHeaderOffset });
    return { name, dtype: header.dtype, shape: header.shape };
  }

  /** Writes the central directory and the end records. Nothing may be added afterwards. */
  async finish(): Promise<void> {
    const directoryOffset = this.offset;
    for (const member of this.members) {
      await this.emit(centralEntry(member));
    }
    const directorySize = this.offset - directoryOffset;

    const needsZip64 = this.members.length >= UINT16_MAX || directorySize >= UINT32_MAX || directoryOffset >= UINT32_MAX;
    if (needsZip64) {
      const zip64EndOffset = this.offset;
      await this.emit(zip64EndRecord(this.members.length, directorySize, directoryOffset));
      await this.emit(zip64Locator(zip64EndOffset));
    }
    await this.emit(endRecord(this.members.length, directorySize, directoryOffset));
  }

  private async emit(chunk: Uint8Array): Promise<void> {
    this.offset += chunk.length;
    await this.sink(chunk);
  }
}

/** An `.npy` file to pack: the array name in the archive and the path to read. */
export interface NpyFileSource {
  name: string;
  path: string;
}

/**
 * Packs `.npy` files into a new `.npz` file at `destination`, reading and writing in
 * chunks. Raises the errors of `NpzWriter.addNpy`, naming each file by its base name, and
 * leaves a partial file behind for the caller to remove.
 */
export async function packNpyFiles(destination: string, sources: NpyFileSource[]): Promise<NdArrayInfo[]> {
  const handle = await open(destination, 'wx');
  try {
    const writer = new NpzWriter(async (chunk) => {
      await handle.write(chunk);
    });
    const infos: NdArrayInfo[] = [];
    for (const source of sources) {
      infos.push(await writer.addNpy(source.name, createReadStream(source.path), basename(source.path)));
    }
    await writer.finish();
    return infos;
  } finally {
    await handle.close();
  }
}

/**
 * Checks a `.npy` stream as it passes: the header once its bytes are in, then the total
 * size against the header. Keeps the first error and reports it from `finish`.
 */
class NpyStreamCheck {
  private prefix = new Uint8Array(0);
  private header: NpyHeader | null = null;
  private error: unknown = null;

  constructor(private readonly context: NpyContext) {}

  failed(): boolean {
    return this.error !== null;
  }

  push(chunk: Uint8Array): void {
    if (this.header !== null) {
      return;
    }
    const joined = new Uint8Array(this.prefix.length + chunk.length);
    joined.set(this.prefix);
    joined.set(chunk, this.prefix.length);
    this.prefix = joined;
    try {
      const headerLength = npyHeaderLength(this.prefix, this.context);
      if (headerLength !== null && this.prefix.length >= headerLength) {
        this.header = parseNpyHeader(this.prefix, this.context);
        this.prefix = new Uint8Array(0);
      }
    } catch (error) {
      this.error = error;
    }
  }

  /** Returns the header of a stream of `size` bytes, or raises the first problem found. */
  finish(size: number): NpyHeader {
    if (this.error !== null) {
      throw this.error;
    }
    const header = this.header;
    if (header === null) {
      throw invalidArray(this.context, `ends after ${size} bytes, inside its .npy header.`);
    }
    const values = size - header.dataOffset;
    if (values !== header.dataLength) {
      throw invalidArray(
        this.context,
        `has ${values} bytes of values, but its header declares shape (${header.shape.join(', ')}) of ${header.dtype}, ` +
          `which needs ${header.dataLength} bytes.`,
      );
    }
    return header;
  }
}

function localHeader(nameBytes: Uint8Array): Uint8Array {
  // CRC-32 and sizes are zero here because flag bit 3 moves them to the data descriptor.
  const bytes = new Uint8Array(30 + nameBytes.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, LOCAL_HEADER_SIGNATURE, true);
  view.setUint16(4, VERSION, true);
  view.setUint16(6, FLAGS, true);
  view.setUint16(8, 0, true);
  view.setUint16(12, DOS_DATE, true);
  view.setUint16(26, nameBytes.length, true);
  bytes.set(nameBytes, 30);
  return bytes;
}

function dataDescriptor(checksum: number, size: number): Uint8Array {
  // A member of 4 GiB or more gets 8-byte sizes, as the Zip64 form of the descriptor has.
  const wide = size >= UINT32_MAX;
  const bytes = new Uint8Array(wide ? 24 : 16);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, DATA_DESCRIPTOR_SIGNATURE, true);
  view.setUint32(4, checksum, true);
  if (wide) {
    view.setBigUint64(8, BigInt(size), true);
    view.setBigUint64(16, BigInt(size), true);
  } else {
    view.setUint32(8, size, true);
    view.setUint32(12, size, true);
  }
  return bytes;
}

function centralEntry(member: WrittenMember): Uint8Array {
  const wideSize = member.size >= UINT32_MAX;
  const wideOffset = member.localHeaderOffset >= UINT32_MAX;
  const extraValues = [...(wideSize ? [member.size, member.size] : []), ...(wideOffset ? [member.localHeaderOffset] : [])];
  const extraLength = extraValues.length === 0 ? 0 : 4 + 8 * extraValues.length;

  const bytes = new Uint8Array(46 + member.nameBytes.length + extraLength);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, CENTRAL_ENTRY_SIGNATURE, true);
  view.setUint16(4, VERSION, true);
  view.setUint16(6, VERSION, true);
  view.setUint16(8, FLAGS, true);
  view.setUint16(10, 0, true);
  view.setUint16(14, DOS_DATE, true);
  view.setUint32(16, member.crc32, true);
  view.setUint32(20, wideSize ? UINT32_MAX : member.size, true);
  view.setUint32(24, wideSize ? UINT32_MAX : member.size, true);
  view.setUint16(28, member.nameBytes.length, true);
  view.setUint16(30, extraLength, true);
  view.setUint32(42, wideOffset ? UINT32_MAX : member.localHeaderOffset, true);
  bytes.set(member.nameBytes, 46);

  if (extraLength > 0) {
    // The Zip64 extra field lists, in this order, only the fields marked 0xFFFFFFFF above.
    const start = 46 + member.nameBytes.length;
    view.setUint16(start, ZIP64_EXTRA_ID, true);
    view.setUint16(start + 2, extraLength - 4, true);
    extraValues.forEach((value, index) => view.setBigUint64(start + 4 + 8 * index, BigInt(value), true));
  }
  return bytes;
}

function zip64EndRecord(entryCount: number, directorySize: number, directoryOffset: number): Uint8Array {
  const bytes = new Uint8Array(56);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, ZIP64_EOCD_SIGNATURE, true);
  view.setBigUint64(4, 44n, true);
  view.setUint16(12, VERSION, true);
  view.setUint16(14, VERSION, true);
  view.setBigUint64(24, BigInt(entryCount), true);
  view.setBigUint64(32, BigInt(entryCount), true);
  view.setBigUint64(40, BigInt(directorySize), true);
  view.setBigUint64(48, BigInt(directoryOffset), true);
  return bytes;
}

function zip64Locator(zip64EndOffset: number): Uint8Array {
  const bytes = new Uint8Array(20);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, ZIP64_LOCATOR_SIGNATURE, true);
  view.setBigUint64(8, BigInt(zip64EndOffset), true);
  view.setUint32(16, 1, true);
  return bytes;
}

function endRecord(entryCount: number, directorySize: number, directoryOffset: number): Uint8Array {
  const bytes = new Uint8Array(22);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, EOCD_SIGNATURE, true);
  view.setUint16(8, Math.min(entryCount, UINT16_MAX), true);
  view.setUint16(10, Math.min(entryCount, UINT16_MAX), true);
  view.setUint32(12, Math.min(directorySize, UINT32_MAX), true);
  view.setUint32(16, Math.min(directoryOffset, UINT32_MAX), true);
  return bytes;
}
