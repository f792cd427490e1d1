// Reads the members of an uploaded model archive (a Keras 3 `.keras` file or a zipped
// TF.js model) into memory. An untrusted zip gets these checks: member names that could
// escape a folder, duplicate names, declared and actual sizes, a cap on the expanded
// size, and CRC-32.
import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

import { CentroidError, isCentroidError } from '@centroid/contracts';

import { locateEntryData, readChunkBytesFor, readZipDirectory, streamEntry, unsafeEntryNameReason } from '../zip.js';

import type { FileHandle } from 'node:fs/promises';
import type { ZipEntry } from '../zip.js';

/** Default of `ArchiveLimits.maxExpandedBytes`: 4 GiB, the most that the HDF5 library's WebAssembly memory can address. */
export const DEFAULT_MAX_MODEL_EXPANDED_BYTES = 4 * 1024 ** 3;

export interface ArchiveLimits {
  /**
   * Maximum total size in bytes of the members read, after decompression. Checked against
   * the sizes that the central directory declares and against the bytes actually
   * inflated. @defaultValue 4 GiB
   */
  maxExpandedBytes?: number;
}

/** An open model archive whose members can be read one at a time. */
export interface ModelArchive {
  /** Every member, in central directory order. */
  entries: ZipEntry[];
  /** Returns the member of that name, or undefined. */
  find: (name: string) => ZipEntry | undefined;
  /** Reads and checks the uncompressed bytes of a member. */
  read: (entry: ZipEntry) => Promise<Uint8Array>;
}

/** Builds the MODEL_INVALID error for a damaged or hostile archive. */
export function invalidModelArchive(filename: string, kind: string, problem: string): CentroidError {
  return new CentroidError('MODEL_INVALID', `${filename} is not a valid ${kind}: ${problem}`, { file: filename });
}

/**
 * Runs `work` with zip.ts, which reports archive damage as DATASET_INVALID because it was
 * written for NPZ datasets, and turns those errors into MODEL_INVALID for a model file.
 */
async function asModelError<T>(filename: string, kind: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isCentroidError(error) && error.code === 'DATASET_INVALID') {
      const problem = error.message.replace(/^.*? is not a valid NPZ \(zip\) archive: /, '').replace(new RegExp(`^${escapeRegExp(filename)}: `), '');
      throw new CentroidError('MODEL_INVALID', `${filename} is not a valid ${kind}: ${problem}`, { file: filename }, { cause: error });
    }
    throw error;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function checkMemberNames(entries: ZipEntry[], filename: string, kind: string): void {
  const seen = new Set<string>();
  for (const entry of entries) {
    const reason = unsafeEntryNameReason(entry.name);
    if (reason !== null) {
      throw invalidModelArchive(filename, kind, `member ${JSON.stringify(entry.name)} is rejected because ${reason}.`);
    }
    if (seen.has(entry.name)) {
      throw invalidModelArchive(filename, kind, `member "${entry.name}" appears more than once.`);
    }
    seen.add(entry.name);
  }
}

/**
 * Opens the zip archive at `path`, checks its directory and member names, and passes it to
 * `work`. `kind` names the expected format in messages, such as "Keras 3 .keras archive".
 * Raises MODEL_INVALID for a damaged archive, an unsafe or duplicate member name, a member
 * whose data disagrees with its declared size or CRC-32, and an archive that expands to
 * more than `limits.maxExpandedBytes`.
 */
export async function withModelArchive<T>(
  path: string,
  filename: string,
  kind: string,
  limits: ArchiveLimits,
  work: (archive: ModelArchive) => Promise<T>,
): Promise<T> {
  const maxExpandedBytes = limits.maxExpandedBytes ?? DEFAULT_MAX_MODEL_EXPANDED_BYTES;
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const entries = await asModelError(filename, kind, () => readZipDirectory(handle, size, filename));
    checkMemberNames(entries, filename, kind);

    const declaredTotal = entries.reduce((total, entry) => total + entry.uncompressedSize, 0);
    if (declaredTotal > maxExpandedBytes) {
      throw invalidModelArchive(
        filename,
        kind,
        `its members declare ${declaredTotal} bytes uncompressed, more than the limit of ${maxExpandedBytes} bytes.`,
      );
    }

    let expandedBytes = 0;
    const read = (entry: ZipEntry) =>
      asModelError(filename, kind, async () => {
        const bytes = await readMember(handle, size, entry, filename, kind, maxExpandedBytes - expandedBytes);
        expandedBytes += bytes.length;
        return bytes;
      });
    const byName = new Map(entries.map((entry) => [entry.name, entry]));
    return await work({ entries, find: (name) => byName.get(name), read });
  } finally {
    await handle.close();
  }
}

async function readMember(
  handle: FileHandle,
  fileSize: number,
  entry: ZipEntry,
  filename: string,
  kind: string,
  remainingBytes: number,
): Promise<Uint8Array> {
  const dataStart = await locateEntryData(handle, fileSize, entry, filename);
  const chunks: Uint8Array[] = [];
  let length = 0;
  let overflow = false;

  // fflate inflates each chunk read from disk whole, so the read size bounds how far a
  // member that lies about its size inflates before it is stopped.
  const maxLength = Math.min(entry.uncompressedSize, remainingBytes);
  const onChunk = (chunk: Uint8Array) => {
    length += chunk.length;
    if (length > maxLength) {
      overflow = true;
      return false;
    }
    chunks.push(chunk);
    return true;
  };
  await streamEntry(handle, entry, dataStart, filename, onChunk, readChunkBytesFor(maxLength));

  if (overflow) {
    throw invalidModelArchive(
      filename,
      kind,
      `member "${entry.name}" expands past its declared ${entry.uncompressedSize} bytes or past the archive's size limit.`,
    );
  }
  if (length !== entry.uncompressedSize) {
    throw invalidModelArchive(filename, kind, `member "${entry.name}" has ${length} bytes, but its directory entry declares ${entry.uncompressedSize}.`);
  }

  const bytes = Buffer.concat(chunks, length);
  const actualCrc = crc32(bytes) >>> 0;
  if (actualCrc !== entry.crc32 >>> 0) {
    throw invalidModelArchive(filename, kind, `member "${entry.name}" fails its CRC-32 check; the archive is damaged.`);
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
