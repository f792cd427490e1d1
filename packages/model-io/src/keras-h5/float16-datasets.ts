// Turns float32 datasets of a file that h5wasm created into IEEE float16 datasets by
// editing the file's bytes after h5wasm has closed it. h5wasm 0.10.3 cannot create
// float16 datasets, so a float16 weight is first created as a float32 dataset of the
// same shape. A floating-point datatype message has the same length at any size, so this
// module rewrites that message in place. It then sets the storage size in the layout
// message to 2 bytes per element, writes the float16 values at the start of the
// dataset's storage and recomputes the checksums of the header chunks it changed.
//
// It reads only what h5wasm 0.10.3 writes with its default library version bounds
// (v108 to v200). That is a version 2 or 3 superblock at offset 0 and version 2 object
// headers with lookup3 checksums. The datasets must be contiguous, without filters or a
// stored fill value.
// Anything else raises an error before any byte changes. Field layouts follow the HDF5
// File Format Specification, version 3.0.
//
// NOTE: the float32 dataset's storage stays allocated, so its second half is unused
// space (zeroed here) and the file is as large as it would be with float32 weights.
import { float32ToFloat16 } from '../float16.js';
import { lookup3Checksum } from '../hdf5/lookup3.js';

import type { Group } from '../hdf5/h5wasm.js';

/** A float32 dataset to narrow to float16, and the float16 values to store. */
export interface Float16Dataset {
  /** Absolute dataset path, for error messages. */
  path: string;
  /** File address of the dataset's object header, as an HDF5 object reference stores it. */
  headerAddress: number;
  /** Dimensions, `[]` for a scalar. */
  shape: number[];
  /** Float16 bit patterns in row-major order, one per element. */
  bits: Uint16Array;
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
const OHDR_SIGNATURE = 'OHDR';
const OCHK_SIGNATURE = 'OCHK';
const CHECKSUM_LENGTH = 4;

const MESSAGE_TYPE = {
  dataspace: 0x01,
  datatype: 0x03,
  oldFillValue: 0x04,
  fillValue: 0x05,
  externalFiles: 0x07,
  layout: 0x08,
  filterPipeline: 0x0b,
  continuation: 0x10,
} as const;

/** Message flag bit 1: the message data is stored elsewhere and this message points to it. */
const SHARED_MESSAGE_FLAG = 0x02;
/** Fill value message (version 3) flag bit 5: a fill value follows the flags. */
const FILL_VALUE_DEFINED_FLAG = 0x20;
const CONTIGUOUS_LAYOUT_CLASS = 1;

/**
 * Datatype message data (version 1, floating-point class) of little-endian IEEE float32,
 * as HDF5 writes H5T_IEEE_F32LE. The bit field 0x20 0x1f 0x00 means an implied mantissa
 * bit and the sign at bit 31. The properties are size 4, bit offset 0, precision 32, an
 * 8-bit exponent at bit 23, a 23-bit mantissa at bit 0 and exponent bias 127.
 */
const FLOAT32_DATATYPE = Uint8Array.of(0x11, 0x20, 0x1f, 0x00, 4, 0, 0, 0, 0, 0, 32, 0, 23, 8, 0, 23, 127, 0, 0, 0);
/** The same message for little-endian IEEE float16 (H5T_IEEE_F16LE, NumPy's `<f2`): sign at bit 15, exponent at bit 10 with 5 bits, mantissa of 10 bits, bias 15. */
const FLOAT16_DATATYPE = Uint8Array.of(0x11, 0x20, 0x0f, 0x00, 2, 0, 0, 0, 0, 0, 16, 0, 10, 5, 0, 10, 15, 0, 0, 0);

/** The superblock fields the object headers need. */
interface Superblock {
  offsetSize: number;
  lengthSize: number;
  baseAddress: number;
}

/** One object header chunk: where it starts and where its checksum is. */
interface HeaderChunk {
  start: number;
  checksumOffset: number;
}

interface HeaderMessage {
  type: number;
  flags: number;
  /** File offset of the message data. */
  dataOffset: number;
  dataSize: number;
  chunk: HeaderChunk;
}

/** The byte changes that narrow one dataset, checked before any is made. */
interface PlannedEdit {
  datatypeOffset: number;
  storageSizeOffset: number;
  dataAddress: number;
  chunks: HeaderChunk[];
  bits: Uint16Array;
}

/**
 * Creates `name` in `parent` as a float32 dataset of `shape` with `values`, and returns
 * what `narrowDatasetsToFloat16` needs to store it as float16 once the file is closed.
 */
export function createFloat16Placeholder(parent: Group, name: string, shape: number[], values: Float32Array): Float16Dataset {
  const dataset = parent.create_dataset({ name, data: values, shape });
  // An object reference (hobj_ref_t) is the object header address as a 64-bit integer,
  // little-endian in h5wasm's WebAssembly memory.
  const reference = dataset.create_reference().ref_data;
  if (reference.length !== 8) {
    throw new Error(`the object reference to ${dataset.path} has ${reference.length} bytes; expected 8.`);
  }
  const headerAddress = new DataView(Uint8Array.from(reference).buffer).getBigUint64(0, true);
  if (headerAddress > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new Error(`the object header address ${headerAddress} of ${dataset.path} is too large.`);
  }
  return { path: dataset.path, headerAddress: Number(headerAddress), shape, bits: float32ToFloat16(values) };
}

/**
 * Narrows each of `datasets` in `file`, the bytes of an HDF5 file that h5wasm created and
 * closed, from float32 to float16, editing `file` in place. Every dataset is checked
 * before the first byte changes, so on an error `file` is unchanged. Raises an error
 * naming the dataset and the structure found when the file is not laid out as h5wasm
 * 0.10.3 writes it.
 */
export function narrowDatasetsToFloat16(file: Uint8Array, datasets: readonly Float16Dataset[]): void {
  const reader = new FileReader(file);
  const superblock = readSuperblock(reader);

  const seen = new Set<number>();
  const edits = datasets.map((dataset) => {
    if (seen.has(dataset.headerAddress)) {
      throw new Error(`cannot narrow ${dataset.path} to float16: another dataset has the same object header address ${dataset.headerAddress}.`);
    }
    seen.add(dataset.headerAddress);
    return planEdit(reader, superblock, dataset);
  });

  for (const edit of edits) {
    applyEdit(file, superblock, edit);
  }
}

function planEdit(reader: FileReader, superblock: Superblock, dataset: Float16Dataset): PlannedEdit {
  const fail = (problem: string): never => {
    throw new Error(`cannot narrow ${dataset.path} to float16: ${problem}`);
  };

  const elementCount = dataset.shape.reduce((product, size) => product * size, 1);
  if (elementCount !== dataset.bits.length) {
    fail(`${dataset.bits.length} values were given for shape [${dataset.shape.join(', ')}], which has ${elementCount} elements.`);
  }

  const messages = readObjectHeader(reader, superblock, dataset.headerAddress, fail);
  for (const [type, name] of [
    [MESSAGE_TYPE.oldFillValue, 'an old-style fill value message'],
    [MESSAGE_TYPE.externalFiles, 'an external data files message'],
    [MESSAGE_TYPE.filterPipeline, 'a filter pipeline message'],
  ] as const) {
    if (messages.some((message) => message.type === type)) {
      fail(`its object header has ${name}, which h5wasm does not write for a plain float32 dataset.`);
    }
  }

  const only = (type: number, name: string): HeaderMessage => {
    const found = messages.filter((message) => message.type === type);
    if (found.length !== 1) {
      fail(`its object header has ${found.length} ${name} messages; expected exactly 1.`);
    }
    const message = found[0] as HeaderMessage;
    if ((message.flags & SHARED_MESSAGE_FLAG) !== 0) {
      fail(`its ${name} message is shared with another object; expected the message in the dataset's own header.`);
    }
    return message;
  };

  checkDataspace(reader, superblock, only(MESSAGE_TYPE.dataspace, 'dataspace'), dataset.shape, fail);
  const datatype = only(MESSAGE_TYPE.datatype, 'datatype');
  checkDatatype(reader, datatype, fail);
  checkFillValue(reader, only(MESSAGE_TYPE.fillValue, 'fill value'), fail);
  const layout = only(MESSAGE_TYPE.layout, 'layout');
  const { dataAddress, storageSizeOffset } = checkLayout(reader, superblock, layout, elementCount, fail);

  const chunks = [...new Set([datatype.chunk, layout.chunk])];
  return { datatypeOffset: datatype.dataOffset, storageSizeOffset, dataAddress, chunks, bits: dataset.bits };
}

function applyEdit(file: Uint8Array, superblock: Superblock, edit: PlannedEdit): void {
  file.set(FLOAT16_DATATYPE, edit.datatypeOffset);
  writeUnsigned(file, edit.storageSizeOffset, superblock.lengthSize, edit.bits.length * 2);

  if (edit.bits.length > 0) {
    const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
    const start = superblock.baseAddress + edit.dataAddress;
    edit.bits.forEach((bits, index) => view.setUint16(start + 2 * index, bits, true));
    file.fill(0, start + 2 * edit.bits.length, start + 4 * edit.bits.length);
  }

  for (const chunk of edit.chunks) {
    const checksum = lookup3Checksum(file.subarray(chunk.start, chunk.checksumOffset));
    new DataView(file.buffer, file.byteOffset, file.byteLength).setUint32(chunk.checksumOffset, checksum, true);
  }
}

function readSuperblock(reader: FileReader): Superblock {
  const fail = (problem: string): never => {
    throw new Error(`cannot narrow datasets to float16: ${problem}`);
  };

  if (reader.length < 12 || HDF5_SIGNATURE.some((byte, index) => reader.byte(index) !== byte)) {
    fail('the file does not start with the HDF5 signature.');
  }
  const version = reader.byte(8);
  if (version !== 2 && version !== 3) {
    fail(`the superblock has version ${version}; expected version 2 or 3, which h5wasm 0.10.3 writes.`);
  }

  const offsetSize = reader.byte(9);
  const lengthSize = reader.byte(10);
  for (const [name, size] of [
    ['size of offsets', offsetSize],
    ['size of lengths', lengthSize],
  ] as const) {
    if (size !== 2 && size !== 4 && size !== 8) {
      fail(`the superblock's ${name} is ${size}; expected 2, 4 or 8.`);
    }
  }

  // Version 2 and 3: base address, superblock extension address, end-of-file address and
  // root group object header address, then the checksum of everything before it.
  const checksumOffset = 12 + 4 * offsetSize;
  reader.require(checksumOffset + CHECKSUM_LENGTH, 'the superblock', fail);
  if (lookup3Checksum(reader.bytes(0, checksumOffset)) !== reader.uint32(checksumOffset)) {
    fail('the superblock checksum does not match its contents.');
  }
  const baseAddress = reader.address(12, offsetSize) ?? fail('the superblock has an undefined base address.');
  return { offsetSize, lengthSize, baseAddress };
}

/**
 * Reads the messages of a version 2 object header, following continuation messages into
 * further chunks, and checks each chunk's checksum.
 */
function readObjectHeader(reader: FileReader, superblock: Superblock, address: number, fail: (problem: string) => never): HeaderMessage[] {
  const start = superblock.baseAddress + address;
  reader.require(start + 6, `the object header at address ${address}`, fail);
  if (reader.text(start, 4) !== OHDR_SIGNATURE) {
    fail(`no version 2 object header ("OHDR") was found at address ${address}.`);
  }
  if (reader.byte(start + 4) !== 2) {
    fail(`the object header at address ${address} has version ${reader.byte(start + 4)}; expected 2.`);
  }

  // Flags: bits 0-1 give the width of the chunk size field, bit 2 adds a creation order
  // to each message, bit 4 adds attribute phase change values and bit 5 four timestamps.
  const flags = reader.byte(start + 5);
  let cursor = start + 6;
  cursor += (flags & 0x20) !== 0 ? 16 : 0;
  cursor += (flags & 0x10) !== 0 ? 4 : 0;
  const sizeFieldLength = 1 << (flags & 0x03);
  reader.require(cursor + sizeFieldLength, `the object header at address ${address}`, fail);
  const chunkSize = reader.unsigned(cursor, sizeFieldLength);
  cursor += sizeFieldLength;
  const messagePrefixLength = (flags & 0x04) !== 0 ? 6 : 4;

  const messages: HeaderMessage[] = [];
  const pending: { chunk: HeaderChunk; messagesStart: number }[] = [
    { chunk: { start, checksumOffset: cursor + chunkSize }, messagesStart: cursor },
  ];
  const visited = new Set<number>([start]);

  while (pending.length > 0) {
    const { chunk, messagesStart } = pending.shift() as (typeof pending)[number];
    const describeChunk = `the object header chunk at file offset ${chunk.start}`;
    reader.require(chunk.checksumOffset + CHECKSUM_LENGTH, describeChunk, fail);
    if (lookup3Checksum(reader.bytes(chunk.start, chunk.checksumOffset)) !== reader.uint32(chunk.checksumOffset)) {
      fail(`the checksum of ${describeChunk} does not match its contents.`);
    }

    // A space shorter than a message prefix before the checksum is a gap, not a message.
    let offset = messagesStart;
    while (chunk.checksumOffset - offset >= messagePrefixLength) {
      const message = {
        type: reader.byte(offset),
        dataSize: reader.unsigned(offset + 1, 2),
        flags: reader.byte(offset + 3),
        dataOffset: offset + messagePrefixLength,
        chunk,
      };
      if (message.dataOffset + message.dataSize > chunk.checksumOffset) {
        fail(`a message of type ${message.type} in ${describeChunk} runs past the chunk's end.`);
      }
      messages.push(message);
      offset = message.dataOffset + message.dataSize;

      if (message.type === MESSAGE_TYPE.continuation) {
        const next = readContinuation(reader, superblock, message, fail);
        if (visited.has(next.start)) {
          fail(`the continuation messages of the object header at address ${address} form a loop.`);
        }
        visited.add(next.start);
        pending.push({ chunk: next, messagesStart: next.start + OCHK_SIGNATURE.length });
      }
    }
  }
  return messages;
}

function readContinuation(reader: FileReader, superblock: Superblock, message: HeaderMessage, fail: (problem: string) => never): HeaderChunk {
  if (message.dataSize !== superblock.offsetSize + superblock.lengthSize) {
    fail(`a continuation message has ${message.dataSize} bytes; expected ${superblock.offsetSize + superblock.lengthSize}.`);
  }
  const address = reader.address(message.dataOffset, superblock.offsetSize) ?? fail('a continuation message has an undefined address.');
  const length = reader.unsigned(message.dataOffset + superblock.offsetSize, superblock.lengthSize);
  const start = superblock.baseAddress + address;
  if (length < OCHK_SIGNATURE.length + CHECKSUM_LENGTH) {
    fail(`the continuation chunk at address ${address} has ${length} bytes, too few for its signature and checksum.`);
  }
  reader.require(start + length, `the continuation chunk at address ${address}`, fail);
  if (reader.text(start, 4) !== OCHK_SIGNATURE) {
    fail(`no continuation chunk ("OCHK") was found at address ${address}.`);
  }
  return { start, checksumOffset: start + length - CHECKSUM_LENGTH };
}

/** Checks a version 2 dataspace message against the planned shape. */
function checkDataspace(reader: FileReader, superblock: Superblock, message: HeaderMessage, shape: number[], fail: (problem: string) => never): void {
  const at = message.dataOffset;
  const version = reader.byte(at);
  if (version !== 2) {
    fail(`its dataspace message has version ${version}; expected 2.`);
  }
  const rank = reader.byte(at + 1);
  const type = reader.byte(at + 3);
  const expectedType = shape.length === 0 ? 0 : 1;
  if (type !== expectedType || rank !== shape.length || message.dataSize < 4 + rank * superblock.lengthSize) {
    fail(`its dataspace has type ${type} and rank ${rank}; expected a ${shape.length === 0 ? 'scalar' : `simple dataspace of rank ${shape.length}`}.`);
  }
  const dimensions = shape.map((_, index) => reader.unsigned(at + 4 + index * superblock.lengthSize, superblock.lengthSize));
  if (dimensions.some((size, index) => size !== shape[index])) {
    fail(`its dataspace has shape [${dimensions.join(', ')}]; expected [${shape.join(', ')}].`);
  }
}

function checkDatatype(reader: FileReader, message: HeaderMessage, fail: (problem: string) => never): void {
  const found = reader.bytes(message.dataOffset, message.dataOffset + message.dataSize);
  if (found.length !== FLOAT32_DATATYPE.length || found.some((byte, index) => byte !== FLOAT32_DATATYPE[index])) {
    const typeClass = (found[0] ?? 0) & 0x0f;
    const size = found.length >= 8 ? reader.uint32(message.dataOffset + 4) : 0;
    fail(`its datatype has class ${typeClass} and ${size} bytes per element; expected little-endian IEEE float32 (class 1, 4 bytes).`);
  }
}

/** Checks that a version 3 fill value message stores no value, which would be a 4-byte float32 to convert. */
function checkFillValue(reader: FileReader, message: HeaderMessage, fail: (problem: string) => never): void {
  const version = reader.byte(message.dataOffset);
  if (version !== 3) {
    fail(`its fill value message has version ${version}; expected 3.`);
  }
  if ((reader.byte(message.dataOffset + 1) & FILL_VALUE_DEFINED_FLAG) !== 0) {
    fail('its fill value message stores a fill value, which h5wasm 0.10.3 never sets.');
  }
}

/** Checks a version 3 or 4 contiguous layout message and returns where its address and size are. */
function checkLayout(
  reader: FileReader,
  superblock: Superblock,
  message: HeaderMessage,
  elementCount: number,
  fail: (problem: string) => never,
): { dataAddress: number; storageSizeOffset: number } {
  const at = message.dataOffset;
  const version = reader.byte(at);
  if (version !== 3 && version !== 4) {
    fail(`its layout message has version ${version}; expected 3 or 4.`);
  }
  if (reader.byte(at + 1) !== CONTIGUOUS_LAYOUT_CLASS || message.dataSize < 2 + superblock.offsetSize + superblock.lengthSize) {
    fail(`its layout class is ${reader.byte(at + 1)}; expected 1 (contiguous storage).`);
  }

  const storageSizeOffset = at + 2 + superblock.offsetSize;
  const storageSize = reader.unsigned(storageSizeOffset, superblock.lengthSize);
  if (storageSize !== elementCount * 4) {
    fail(`its contiguous storage has ${storageSize} bytes; expected ${elementCount * 4} for ${elementCount} float32 values.`);
  }
  const dataAddress = reader.address(at + 2, superblock.offsetSize);
  if (elementCount === 0) {
    return { dataAddress: dataAddress ?? 0, storageSizeOffset };
  }
  if (dataAddress === null) {
    fail('its storage is not allocated.');
  }
  reader.require(superblock.baseAddress + (dataAddress as number) + storageSize, 'its data', fail);
  return { dataAddress: dataAddress as number, storageSizeOffset };
}

function writeUnsigned(file: Uint8Array, offset: number, length: number, value: number): void {
  let remaining = value;
  for (let index = 0; index < length; index++) {
    file[offset + index] = remaining % 256;
    remaining = Math.floor(remaining / 256);
  }
}

/** Little-endian reads from the file's bytes. Callers check bounds with `require` first. */
class FileReader {
  private readonly view: DataView;

  constructor(private readonly file: Uint8Array) {
    this.view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  }

  get length(): number {
    return this.file.length;
  }

  /** Raises through `fail` unless the file has at least `end` bytes. */
  require(end: number, what: string, fail: (problem: string) => never): void {
    if (!Number.isSafeInteger(end) || end > this.file.length) {
      fail(`${what} ends at byte ${end}, past the end of the ${this.file.length}-byte file.`);
    }
  }

  byte(offset: number): number {
    return this.view.getUint8(offset);
  }

  uint32(offset: number): number {
    return this.view.getUint32(offset, true);
  }

  bytes(start: number, end: number): Uint8Array {
    return this.file.subarray(start, end);
  }

  text(offset: number, length: number): string {
    return String.fromCharCode(...this.file.subarray(offset, offset + length));
  }

  /** Reads an unsigned integer of `length` bytes. Values beyond 2^53 read as Infinity, which no bounds check passes. */
  unsigned(offset: number, length: number): number {
    let value = 0;
    for (let index = length - 1; index >= 0; index--) {
      value = value * 256 + this.byte(offset + index);
    }
    return Number.isSafeInteger(value) ? value : Infinity;
  }

  /** Reads an address of `length` bytes, or null for the undefined address (all bits set). */
  address(offset: number, length: number): number | null {
    let undefinedAddress = true;
    for (let index = 0; index < length; index++) {
      undefinedAddress &&= this.byte(offset + index) === 0xff;
    }
    return undefinedAddress ? null : this.unsigned(offset, length);
  }
}
