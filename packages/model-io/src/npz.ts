// Reads NumPy `.npz` datasets: zip archives of `.npy` members, stored or deflated.
// Every size is checked against the others (zip directory, .npy header, bytes actually
// inflated), and the total expanded size is capped, so a lying or bomb-like archive is
// rejected before it exhausts memory.
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { crc32 } from 'node:zlib';

import { CentroidError } from '@centroid/contracts';

import { HDF5_SIGNATURE } from './file-signature.js';
import { decodeNpyData, invalidArray, NPY_MAGIC, npyHeaderLength, parseNpyHeader } from './npy.js';
import { invalidArchive, locateEntryData, readZipDirectory, SMALL_READ_CHUNK_BYTES, streamEntry, unsafeEntryNameReason } from './zip.js';

import type { FileHandle } from 'node:fs/promises';
import type { NdArray, NdDtype, NpyContext, NpyHeader } from './npy.js';
import type { ZipEntry } from './zip.js';

export interface ReadNpzOptions {
  /** Names of the arrays to read, without `.npy`; a missing one raises DATASET_ARRAY_MISSING. Defaults to every array. */
  arrays?: string[];
  /**
   * Maximum total size in bytes of the arrays read, after decompression. Checked against
   * the sizes the archive declares before anything is decoded, and against the bytes
   * actually inflated. Defaults to 8 GiB.
   */
  maxExpandedBytes?: number;
  /** Name of the file in error messages. Defaults to the last part of the path. */
  filename?: string;
}

/** Name, element type and shape of an NPZ array, read from its `.npy` header alone. */
export interface NdArrayInfo {
  name: string;
  dtype: NdDtype;
  shape: number[];
}

/** Default of `ReadNpzOptions.maxExpandedBytes`: 8 GiB. */
export const DEFAULT_MAX_EXPANDED_BYTES = 8 * 1024 ** 3;

const NPY_SUFFIX = '.npy';

/** An `.npy` member of the archive. */
interface NpyMember {
  name: string;
  entry: ZipEntry;
}

async function withArchive<T>(
  path: string,
  filename: string,
  read: (handle: FileHandle, fileSize: number, members: NpyMember[]) => Promise<T>,
): Promise<T> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const otherFormat = await describeOtherFormat(handle, size);
    if (otherFormat !== null) throw invalidArchive(filename, otherFormat);
    const entries = await readZipDirectory(handle, size, filename);
    return await read(handle, size, listNpyMembers(entries, filename));
  } finally {
    await handle.close();
  }
}

/**
 * Describes a file given as an NPZ dataset that is an empty file, a single .npy array or
 * an HDF5 file such as a Keras model, and what to send instead. The zip reader would
 * only report a missing end-of-central-directory record for these. Returns null for any
 * other file, which the zip reader then checks.
 */
async function describeOtherFormat(handle: FileHandle, size: number): Promise<string | null> {
  if (size === 0) return 'the file is empty (0 bytes).';

  const start = Buffer.alloc(HDF5_SIGNATURE.length);
  const { bytesRead } = await handle.read(start, 0, start.length, 0);
  const head = start.subarray(0, bytesRead);
  if (head.subarray(0, NPY_MAGIC.length).equals(Buffer.from(NPY_MAGIC))) {
    return (
      'it is a single .npy array. Save the arrays in one file with numpy.savez, or send each array as its own .npy ' +
      '(the parts x_train, y_train, x_test and y_test, or --x-train-file and its siblings in the CLI).'
    );
  }
  if (head.equals(HDF5_SIGNATURE)) {
    return (
      'it is an HDF5 file, such as a Keras .h5 model. Send a model as the model (the part model, or MODEL in the CLI), ' +
      'and the dataset as an NPZ that numpy.savez writes.'
    );
  }
  return null;
}

function listNpyMembers(entries: ZipEntry[], filename: string): NpyMember[] {
  const members: NpyMember[] = [];
  const seen = new Set<string>();
  // Nothing here extracts members to disk, but a member named like a path outside the
  // archive only comes from a crafted file, so the whole archive is rejected.
  for (const entry of entries) {
    const reason = unsafeEntryNameReason(entry.name);
    if (reason !== null) {
      throw invalidArchive(
        filename,
        `member ${JSON.stringify(entry.name)} has an unsafe name: ${reason}. Expected names relative to the archive, such as "x_train.npy".`,
      );
    }
  }
  // numpy.load exposes only `.npy` members as arrays, so other members are ignored here too.
  for (const entry of entries.filter((candidate) => candidate.name.endsWith(NPY_SUFFIX))) {
    const name = entry.name.slice(0, -NPY_SUFFIX.length);
    if (seen.has(name)) {
      throw new CentroidError('DATASET_INVALID', `${filename} contains array "${name}" more than once.`, { file: filename });
    }
    seen.add(name);
    members.push({ name, entry });
  }
  return members;
}

function selectMembers(members: NpyMember[], wanted: string[] | undefined, filename: string): NpyMember[] {
  if (wanted === undefined) {
    return members;
  }
  const byName = new Map(members.map((member) => [member.name, member]));
  const missing = wanted.filter((name) => !byName.has(name));
  if (missing.length > 0) {
    const available = members.length === 0 ? 'none' : members.map((member) => `"${member.name}"`).join(', ');
    throw new CentroidError(
      'DATASET_ARRAY_MISSING',
      `${filename} has no array ${missing.map((name) => `"${name}"`).join(', ')}; the arrays it contains are ${available}.`,
      { file: filename },
    );
  }
  return wanted.map((name) => byName.get(name) as NpyMember);
}

function checkExpandedSize(members: NpyMember[], maxExpandedBytes: number, filename: string): void {
  const total = members.reduce((sum, member) => sum + member.entry.uncompressedSize, 0);
  if (total > maxExpandedBytes) {
    throw new CentroidError(
      'DATASET_INVALID',
      `${filename} expands to ${total} bytes, more than the limit of ${maxExpandedBytes} bytes.`,
      { file: filename },
    );
  }
}

/** Checks that the zip directory and the `.npy` header agree on the member's size. */
function checkDeclaredSize(header: NpyHeader, entry: ZipEntry, context: NpyContext): void {
  const needed = header.dataOffset + header.dataLength;
  if (entry.uncompressedSize !== needed) {
    throw invalidArray(
      context,
      `declares ${entry.uncompressedSize} bytes in the zip directory, but its .npy header (shape (${header.shape.join(', ')}) ` +
        `of ${header.dtype}) needs ${needed} bytes.`,
    );
  }
}

/**
 * Collects the uncompressed bytes of one `.npy` member as they stream in: the header
 * first, then, when values are wanted, the values into a buffer of exactly the size the
 * header declares. It checks every size it can as soon as it can.
 */
class NpyMemberAssembler {
  private prefix = new Uint8Array(0);
  private header: NpyHeader | null = null;
  private data: Uint8Array | null = null;
  private filled = 0;
  private checksum = 0;

  constructor(
    private readonly entry: ZipEntry,
    private readonly context: NpyContext,
    private readonly wantValues: boolean,
  ) {}

  /** Takes the next chunk and returns whether more bytes are wanted. */
  push(chunk: Uint8Array): boolean {
    this.checksum = crc32(chunk, this.checksum);
    if (this.header === null) {
      return this.pushHeaderBytes(chunk);
    }
    this.pushValueBytes(chunk);
    return true;
  }

  private pushHeaderBytes(chunk: Uint8Array): boolean {
    const joined = new Uint8Array(this.prefix.length + chunk.length);
    joined.set(this.prefix);
    joined.set(chunk, this.prefix.length);
    this.prefix = joined;

    const headerLength = npyHeaderLength(this.prefix, this.context);
    if (headerLength === null || this.prefix.length < headerLength) {
      return true;
    }

    const header = parseNpyHeader(this.prefix, this.context);
    checkDeclaredSize(header, this.entry, this.context);
    this.header = header;
    if (!this.wantValues) {
      return false;
    }
    this.data = allocate(header.dataLength, this.context);
    this.pushValueBytes(this.prefix.subarray(headerLength));
    return true;
  }

  private pushValueBytes(chunk: Uint8Array): void {
    const data = this.data as Uint8Array;
    if (this.filled + chunk.length > data.length) {
      throw invalidArray(this.context, `inflates to more than the ${this.entry.uncompressedSize} bytes that the zip directory declares.`);
    }
    data.set(chunk, this.filled);
    this.filled += chunk.length;
  }

  /** Returns the parsed header; raises when the member ended inside it. */
  finishHeader(): NpyHeader {
    if (this.header === null) {
      throw invalidArray(this.context, `ends after ${this.prefix.length} bytes, inside its .npy header.`);
    }
    return this.header;
  }

  /** Checks length and CRC-32 of the whole member and decodes its values. */
  finishArray(): NdArray {
    const header = this.finishHeader();
    if (this.filled !== header.dataLength) {
      throw invalidArray(this.context, `ends after ${this.filled} of the ${header.dataLength} bytes of values that its header declares.`);
    }
    if (this.checksum >>> 0 !== this.entry.crc32 >>> 0) {
      throw invalidArray(this.context, 'fails its CRC-32 check; the archive is damaged.');
    }
    return decodeNpyData(header, this.data as Uint8Array, this.context);
  }
}

async function assembleMember(
  handle: FileHandle,
  fileSize: number,
  member: NpyMember,
  filename: string,
  wantValues: boolean,
): Promise<NpyMemberAssembler> {
  const context = { filename, name: member.name };
  const dataStart = await locateEntryData(handle, fileSize, member.entry, filename);
  const assembler = new NpyMemberAssembler(member.entry, context, wantValues);
  // For the header alone, small reads keep a highly compressed member from inflating
  // far past its header before streaming stops.
  const readChunkBytes = wantValues ? undefined : SMALL_READ_CHUNK_BYTES;
  await streamEntry(handle, member.entry, dataStart, filename, (chunk) => assembler.push(chunk), readChunkBytes);
  return assembler;
}

function allocate(byteLength: number, context: NpyContext): Uint8Array {
  try {
    return new Uint8Array(byteLength);
  } catch (error) {
    throw new CentroidError(
      'DATASET_INVALID',
      `${context.filename}: array "${context.name}" needs ${byteLength} bytes, more than this process can allocate.`,
      { file: context.filename },
      { cause: error },
    );
  }
}

/**
 * Reads the arrays of an `.npz` file into a map keyed by array name (without `.npy`).
 * Raises DATASET_INVALID for a damaged or lying archive, for an unsupported dtype and
 * when the arrays expand to more than `maxExpandedBytes`, and DATASET_ARRAY_MISSING when
 * a requested array is absent.
 */
export async function readNpz(path: string, options: ReadNpzOptions = {}): Promise<Map<string, NdArray>> {
  const filename = options.filename ?? basename(path);
  const maxExpandedBytes = options.maxExpandedBytes ?? DEFAULT_MAX_EXPANDED_BYTES;

  return withArchive(path, filename, async (handle, fileSize, members) => {
    const selected = selectMembers(members, options.arrays, filename);
    checkExpandedSize(selected, maxExpandedBytes, filename);

    const arrays = new Map<string, NdArray>();
    for (const member of selected) {
      const assembler = await assembleMember(handle, fileSize, member, filename, true);
      arrays.set(member.name, assembler.finishArray());
    }
    return arrays;
  });
}

/**
 * Lists the arrays of an `.npz` file with their dtypes and shapes, in archive order.
 * Reads each member's local header and then only as much of its data as it takes to
 * complete the `.npy` header, so memory and time do not grow with the arrays' size.
 * Raises DATASET_INVALID when a header is bad, or when its shape and dtype disagree
 * with the uncompressed size that the zip directory declares.
 */
export async function readNpzArrayNames(path: string, options: { filename?: string } = {}): Promise<NdArrayInfo[]> {
  const filename = options.filename ?? basename(path);
  return withArchive(path, filename, async (handle, fileSize, members) => {
    const infos: NdArrayInfo[] = [];
    for (const member of members) {
      const header = (await assembleMember(handle, fileSize, member, filename, false)).finishHeader();
      infos.push({ name: member.name, dtype: header.dtype, shape: header.shape });
    }
    return infos;
  });
}
