// Reads the central directory of a zip archive, with Zip64 extensions, and streams
// single members from disk, so that an NPZ never has to fit in memory twice. NumPy
// stores members (np.savez) or deflates them (np.savez_compressed), and numpy 1.26
// gives every local header Zip64 sizes. Sizes are taken from the central directory.
import { Inflate } from 'fflate';

import { CentroidError } from '@centroid/contracts';

import type { FileHandle } from 'node:fs/promises';

/** A member of a zip archive, as its central directory entry describes it. */
export interface ZipEntry {
  name: string;
  /** 0 for stored, 8 for deflated. */
  method: 0 | 8;
  /** General purpose bit flags; bit 0 marks encryption. */
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_LENGTH = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_LENGTH = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const ZIP64_EOCD_LENGTH = 56;
const CENTRAL_ENTRY_SIGNATURE = 0x02014b50;
const CENTRAL_ENTRY_LENGTH = 46;
const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const LOCAL_HEADER_LENGTH = 30;
const ZIP64_EXTRA_ID = 0x0001;
const MAX_COMMENT_LENGTH = 0xffff;
const UINT16_MAX = 0xffff;
const UINT32_MAX = 0xffffffff;

/** Largest central directory read into memory: room for about a million entries, an estimate at 64 bytes each. */
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;

/**
 * Largest expansion that deflate can encode: a 258-byte match costs at least 2 bits, so
 * one compressed byte yields at most 1032 bytes. A member that declares more lies, and
 * is rejected before a buffer of its declared size is allocated.
 */
const MAX_DEFLATE_RATIO = 1032;

/** Bytes of headroom on the deflate ratio check, for block headers of tiny members. */
const DEFLATE_RATIO_SLACK_BYTES = 1024;

/** Bytes read from disk per step while streaming a member. */
const READ_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Bytes read from disk per step while only the start of a member is wanted. fflate
 * inflates each pushed chunk whole, so one step yields at most MAX_DEFLATE_RATIO times
 * this, about 4 MiB, however large the member is.
 */
export const SMALL_READ_CHUNK_BYTES = 4 * 1024;

/**
 * Returns how many compressed bytes to read per step so that one step inflates to at most
 * `maxOutputBytes` or about 4 MiB, whichever is larger. A reader that stops once it has
 * passed `maxOutputBytes` therefore inflates at most one such step more.
 */
export function readChunkBytesFor(maxOutputBytes: number): number {
  return Math.min(READ_CHUNK_BYTES, Math.max(SMALL_READ_CHUNK_BYTES, Math.ceil(maxOutputBytes / MAX_DEFLATE_RATIO)));
}

export function invalidArchive(filename: string, problem: string): CentroidError {
  return new CentroidError('DATASET_INVALID', `${filename} is not a valid NPZ (zip) archive: ${problem}`, { file: filename });
}

/**
 * Returns why a member name is unsafe to use as a path, or null when it is safe: an
 * absolute path, a Windows drive or UNC prefix, a `..` segment, a NUL character or an
 * empty name. Names with `/` inside the archive, such as `data/x.npy`, are safe.
 */
export function unsafeEntryNameReason(name: string): string | null {
  if (name === '') {
    return 'the name is empty';
  }
  if (name.includes('\0')) {
    return 'the name contains a NUL character';
  }
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) {
    return 'the name is an absolute path';
  }
  if (name.split(/[/\\]/).includes('..')) {
    return 'the name contains a ".." segment';
  }
  return null;
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, bytesRead);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readUint64(data: DataView, offset: number, filename: string): number {
  const value = data.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalidArchive(filename, `a Zip64 field is ${value}, larger than any file this reader can open.`);
  }
  return Number(value);
}

/** Reads the list of members from the archive's central directory. */
export async function readZipDirectory(handle: FileHandle, fileSize: number, filename: string): Promise<ZipEntry[]> {
  const tailLength = Math.min(fileSize, EOCD_LENGTH + MAX_COMMENT_LENGTH);
  const tailStart = fileSize - tailLength;
  const tail = await readAt(handle, tailStart, tailLength);
  const tailView = view(tail);

  let eocd = -1;
  for (let offset = tail.length - EOCD_LENGTH; offset >= 0; offset--) {
    if (tailView.getUint32(offset, true) === EOCD_SIGNATURE) {
      eocd = offset;
      break;
    }
  }
  if (eocd < 0) {
    throw invalidArchive(filename, 'no end-of-central-directory record was found; the file may be truncated.');
  }

  let entryCount = tailView.getUint16(eocd + 10, true);
  let directorySize = tailView.getUint32(eocd + 12, true);
  let directoryOffset = tailView.getUint32(eocd + 16, true);

  const locatorOffset = eocd - ZIP64_LOCATOR_LENGTH;
  if (locatorOffset >= 0 && tailView.getUint32(locatorOffset, true) === ZIP64_LOCATOR_SIGNATURE) {
    const zip64EocdPosition = readUint64(tailView, locatorOffset + 8, filename);
    const record = await readAt(handle, zip64EocdPosition, ZIP64_EOCD_LENGTH);
    const recordView = view(record);
    if (record.length < ZIP64_EOCD_LENGTH || recordView.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE) {
      throw invalidArchive(filename, `the Zip64 end-of-central-directory record at byte ${zip64EocdPosition} is missing.`);
    }
    entryCount = readUint64(recordView, 32, filename);
    directorySize = readUint64(recordView, 40, filename);
    directoryOffset = readUint64(recordView, 48, filename);
  } else if (entryCount === UINT16_MAX || directorySize === UINT32_MAX || directoryOffset === UINT32_MAX) {
    throw invalidArchive(filename, 'the end-of-central-directory record needs a Zip64 record, which is missing.');
  }

  if (directoryOffset + directorySize > tailStart + eocd || directorySize > MAX_DIRECTORY_BYTES) {
    throw invalidArchive(
      filename,
      `the central directory claims ${directorySize} bytes at byte ${directoryOffset}, which does not fit in the file.`,
    );
  }

  const directory = await readAt(handle, directoryOffset, directorySize);
  return parseCentralDirectory(directory, entryCount, filename);
}

function parseCentralDirectory(directory: Uint8Array, entryCount: number, filename: string): ZipEntry[] {
  const data = view(directory);
  const entries: ZipEntry[] = [];
  let offset = 0;

  for (let index = 0; index < entryCount; index++) {
    if (offset + CENTRAL_ENTRY_LENGTH > directory.length || data.getUint32(offset, true) !== CENTRAL_ENTRY_SIGNATURE) {
      throw invalidArchive(filename, `central directory entry ${index + 1} of ${entryCount} is missing or damaged.`);
    }

    const flags = data.getUint16(offset + 8, true);
    const method = data.getUint16(offset + 10, true);
    const nameLength = data.getUint16(offset + 28, true);
    const extraLength = data.getUint16(offset + 30, true);
    const commentLength = data.getUint16(offset + 32, true);
    const nameBytes = directory.subarray(offset + CENTRAL_ENTRY_LENGTH, offset + CENTRAL_ENTRY_LENGTH + nameLength);
    const extra = directory.subarray(offset + CENTRAL_ENTRY_LENGTH + nameLength, offset + CENTRAL_ENTRY_LENGTH + nameLength + extraLength);
    const name = new TextDecoder().decode(nameBytes);

    const sizes = {
      uncompressedSize: data.getUint32(offset + 24, true),
      compressedSize: data.getUint32(offset + 20, true),
      localHeaderOffset: data.getUint32(offset + 42, true),
    };
    applyZip64Extra(sizes, extra, name, filename);

    if ((flags & 1) !== 0) {
      throw invalidArchive(filename, `member "${name}" is encrypted.`);
    }
    if (method !== 0 && method !== 8) {
      throw invalidArchive(filename, `member "${name}" uses compression method ${method}; only stored (0) and deflated (8) are supported.`);
    }

    entries.push({ name, method, flags, crc32: data.getUint32(offset + 16, true), ...sizes });
    offset += CENTRAL_ENTRY_LENGTH + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** Replaces 32-bit size fields marked 0xFFFFFFFF with the 64-bit values of the Zip64 extra field. */
function applyZip64Extra(
  sizes: { uncompressedSize: number; compressedSize: number; localHeaderOffset: number },
  extra: Uint8Array,
  name: string,
  filename: string,
): void {
  const fields = (['uncompressedSize', 'compressedSize', 'localHeaderOffset'] as const).filter(
    (field) => sizes[field] === UINT32_MAX,
  );
  if (fields.length === 0) {
    return;
  }

  const data = view(extra);
  for (let offset = 0; offset + 4 <= extra.length; ) {
    const id = data.getUint16(offset, true);
    const length = data.getUint16(offset + 2, true);
    if (id === ZIP64_EXTRA_ID) {
      if (length < fields.length * 8 || offset + 4 + length > extra.length) {
        break;
      }
      fields.forEach((field, index) => {
        sizes[field] = readUint64(data, offset + 4 + index * 8, filename);
      });
      return;
    }
    offset += 4 + length;
  }
  throw invalidArchive(filename, `member "${name}" needs a Zip64 extra field, which is missing or too short.`);
}

/** Returns the position of a member's first data byte, after its local header. */
export async function locateEntryData(handle: FileHandle, fileSize: number, entry: ZipEntry, filename: string): Promise<number> {
  const header = await readAt(handle, entry.localHeaderOffset, LOCAL_HEADER_LENGTH);
  const data = view(header);
  if (header.length < LOCAL_HEADER_LENGTH || data.getUint32(0, true) !== LOCAL_HEADER_SIGNATURE) {
    throw invalidArchive(filename, `the local header of member "${entry.name}" at byte ${entry.localHeaderOffset} is missing.`);
  }

  const dataStart = entry.localHeaderOffset + LOCAL_HEADER_LENGTH + data.getUint16(26, true) + data.getUint16(28, true);
  if (dataStart + entry.compressedSize > fileSize) {
    throw invalidArchive(
      filename,
      `member "${entry.name}" claims ${entry.compressedSize} bytes at byte ${dataStart}, past the end of the ${fileSize}-byte file; ` +
        'the file may be truncated.',
    );
  }
  if (entry.method === 8 && entry.uncompressedSize > entry.compressedSize * MAX_DEFLATE_RATIO + DEFLATE_RATIO_SLACK_BYTES) {
    throw invalidArchive(
      filename,
      `deflated member "${entry.name}" declares ${entry.uncompressedSize} bytes uncompressed from ${entry.compressedSize} ` +
        'compressed bytes, more than deflate can expand.',
    );
  }
  if (entry.method === 0 && entry.compressedSize !== entry.uncompressedSize) {
    throw invalidArchive(
      filename,
      `stored member "${entry.name}" declares ${entry.compressedSize} bytes stored but ${entry.uncompressedSize} bytes uncompressed.`,
    );
  }
  return dataStart;
}

/**
 * Streams the uncompressed bytes of a member to `onChunk`, reading the file in chunks of
 * `readChunkBytes` and inflating each one as it arrives. Stops after the chunk for which
 * `onChunk` returns false. Raises DATASET_INVALID when deflated data is corrupt.
 */
export async function streamEntry(
  handle: FileHandle,
  entry: ZipEntry,
  dataStart: number,
  filename: string,
  onChunk: (chunk: Uint8Array) => boolean,
  readChunkBytes: number = READ_CHUNK_BYTES,
): Promise<void> {
  let keepGoing = true;
  const inflate = entry.method === 8 ? new Inflate() : null;
  if (inflate !== null) {
    inflate.ondata = (chunk) => {
      if (keepGoing && chunk.length > 0) {
        keepGoing = onChunk(chunk);
      }
    };
  }

  for (let read = 0; keepGoing && read < entry.compressedSize; ) {
    const length = Math.min(readChunkBytes, entry.compressedSize - read);
    const chunk = await readAt(handle, dataStart + read, length);
    if (chunk.length === 0) {
      throw invalidArchive(filename, `member "${entry.name}" ends after ${read} of its ${entry.compressedSize} bytes.`);
    }
    read += chunk.length;
    const final = read >= entry.compressedSize;

    if (inflate === null) {
      keepGoing = onChunk(chunk);
      continue;
    }
    try {
      inflate.push(chunk, final);
    } catch (error) {
      // `onChunk` runs inside push, so its own errors, such as a bad .npy header, pass through as they are.
      if (error instanceof CentroidError) {
        throw error;
      }
      throw new CentroidError(
        'DATASET_INVALID',
        `${filename}: member "${entry.name}" has corrupt deflate data (${(error as Error).message}).`,
        { file: filename },
        { cause: error },
      );
    }
  }
}
