// Deterministic mutations of model and dataset files for the fuzz test: byte and bit
// flips, truncations, inserted and removed bytes, and changes to the header fields of
// NPY, zip and HDF5 files and to the Keras config text inside them.
import { unzipSync } from 'fflate';

import { buildZip } from './archive-builders.js';

/** A seeded pseudo-random generator (mulberry32), so that a seed reproduces a whole run. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Returns a float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Returns an integer in [0, bound). */
  below(bound: number): number {
    return Math.floor(this.next() * bound);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)] as T;
  }
}

/** A mutated copy of a file and the steps that made it, for the failure report. */
export interface Mutant {
  bytes: Uint8Array;
  steps: string[];
}

export type FileKind = 'h5' | 'npz' | 'npy' | 'zip';

/** Values that often sit at the edges of size, offset and count checks. */
const INTERESTING_VALUES = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

function findAll(bytes: Uint8Array, pattern: Uint8Array | number[]): number[] {
  const needle = Uint8Array.from(pattern);
  const found: number[] = [];
  const haystack = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1)) {
    found.push(at);
  }
  return found;
}

function writeUint(bytes: Uint8Array, offset: number, width: 1 | 2 | 4 | 8, value: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (offset + width > bytes.length) {
    return;
  }
  if (width === 1) view.setUint8(offset, value & 0xff);
  if (width === 2) view.setUint16(offset, value & 0xffff, true);
  if (width === 4) view.setUint32(offset, value >>> 0, true);
  if (width === 8) view.setBigUint64(offset, BigInt(value) * (value === 0xffffffff ? 0x100000001n : 1n), true);
}

function flipBytes(bytes: Uint8Array, random: Random): [Uint8Array, string] {
  const copy = bytes.slice();
  const count = 1 + random.below(8);
  const positions: number[] = [];
  for (let i = 0; i < count && copy.length > 0; i++) {
    const position = random.below(copy.length);
    copy[position] = random.below(256);
    positions.push(position);
  }
  return [copy, `set random bytes at ${positions.join(', ')}`];
}

function flipBits(bytes: Uint8Array, random: Random): [Uint8Array, string] {
  const copy = bytes.slice();
  const count = 1 + random.below(16);
  for (let i = 0; i < count && copy.length > 0; i++) {
    const position = random.below(copy.length);
    copy[position] = (copy[position] as number) ^ (1 << random.below(8));
  }
  return [copy, `flipped ${count} bits`];
}

function truncate(bytes: Uint8Array, random: Random): [Uint8Array, string] {
  const length = random.below(bytes.length);
  return [bytes.slice(0, length), `truncated to ${length} bytes`];
}

function insertBytes(bytes: Uint8Array, random: Random): [Uint8Array, string] {
  const position = random.below(bytes.length + 1);
  const count = 1 + random.below(random.next() < 0.5 ? 8 : 4096);
  const inserted = Uint8Array.from({ length: count }, () => random.below(256));
  const copy = new Uint8Array(bytes.length + count);
  copy.set(bytes.subarray(0, position));
  copy.set(inserted, position);
  copy.set(bytes.subarray(position), position + count);
  return [copy, `inserted ${count} bytes at ${position}`];
}

function removeBytes(bytes: Uint8Array, random: Random): [Uint8Array, string] {
  if (bytes.length === 0) return insertBytes(bytes, random);
  const position = random.below(bytes.length);
  const count = 1 + random.below(Math.min(4096, bytes.length - position));
  const copy = new Uint8Array(bytes.length - count);
  copy.set(bytes.subarray(0, position));
  copy.set(bytes.subarray(position + count), position);
  return [copy, `removed ${count} bytes at ${position}`];
}

function overwriteInteger(bytes: Uint8Array, random: Random, offsets: number[]): [Uint8Array, string] {
  const copy = bytes.slice();
  const offset = offsets.length > 0 ? random.pick(offsets) : random.below(copy.length);
  const width = random.pick([1, 2, 4, 8] as const);
  const value = random.pick(INTERESTING_VALUES);
  writeUint(copy, offset, width, value);
  return [copy, `wrote ${value} as a ${width}-byte integer at ${offset}`];
}

/** Offsets of the size, offset, count and flag fields of every zip record in the file. */
function zipFieldOffsets(bytes: Uint8Array): number[] {
  const offsets: number[] = [];
  for (const at of findAll(bytes, [0x50, 0x4b, 0x03, 0x04])) offsets.push(...[6, 8, 14, 18, 22, 26, 28].map((field) => at + field));
  for (const at of findAll(bytes, [0x50, 0x4b, 0x01, 0x02])) offsets.push(...[8, 10, 16, 20, 24, 28, 30, 32, 42].map((field) => at + field));
  for (const at of findAll(bytes, [0x50, 0x4b, 0x05, 0x06])) offsets.push(...[8, 10, 12, 16, 20].map((field) => at + field));
  for (const at of findAll(bytes, [0x50, 0x4b, 0x06, 0x06])) offsets.push(...[24, 32, 40, 48].map((field) => at + field));
  for (const at of findAll(bytes, [0x50, 0x4b, 0x06, 0x07])) offsets.push(at + 8);
  return offsets;
}

const NPY_HEADER_EDITS: [RegExp, string[]][] = [
  [/'descr': '[^']*'/, ["'descr': '<c8'", "'descr': '|O'", "'descr': '>f8'", "'descr': '<U4'", "'descr': '|b1'", "'descr': 'f4'", "'descr': ''"]],
  [/'shape': \([^)]*\)/, ["'shape': ()", "'shape': (0,)", "'shape': (-1,)", "'shape': (4294967296, 4294967296)", "'shape': (1, 2, 3, 4, 5, 6, 7)", "'shape': (3.5,)", "'shape': ((2,),)", "'shape': (99999999999999999999,)"]],
  [/'fortran_order': (True|False)/, ["'fortran_order': True", "'fortran_order': False", "'fortran_order': 1", "'fortran_order': None"]],
];

/** Rewrites one field of one `.npy` header found in the bytes, keeping the rest. */
function editNpyHeader(bytes: Uint8Array, random: Random): [Uint8Array, string] {
  const headers = findAll(bytes, Buffer.from("{'descr'"));
  if (headers.length === 0) return flipBytes(bytes, random);
  const start = random.pick(headers);
  const end = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(0x0a, start);
  if (end < 0) return flipBytes(bytes, random);

  const text = Buffer.from(bytes.subarray(start, end)).toString('latin1');
  const [pattern, replacements] = random.pick(NPY_HEADER_EDITS);
  const replacement = random.pick(replacements);
  const edited = text.replace(pattern, replacement);
  // Keeping the header length lets the edit reach the dict parser instead of the length check,
  // unless the new text is longer, which then also tests a header that overruns its length.
  const padded = edited.length <= text.length ? edited.padEnd(text.length, ' ') : edited;
  const copy = new Uint8Array(bytes.length - text.length + padded.length);
  copy.set(bytes.subarray(0, start));
  copy.set(Buffer.from(padded, 'latin1'), start);
  copy.set(bytes.subarray(end), start + padded.length);
  return [copy, `set ${replacement} in the .npy header at ${start}`];
}

const CONFIG_STARTS = ['{"class_name"', '{"module"', '{"loss"', '{"optimizer_config"'];

/** Returns where Keras config JSON starts and ends in the file, as ranges of byte offsets. */
function configRanges(bytes: Uint8Array): [number, number][] {
  const haystack = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ranges: [number, number][] = [];
  for (const start of CONFIG_STARTS.flatMap((prefix) => findAll(bytes, Buffer.from(prefix)))) {
    const end = haystack.indexOf(0, start);
    ranges.push([start, end < 0 ? bytes.length : end]);
  }
  return ranges;
}

const LITERAL_SWAPS: [string, string][] = [
  ['true', 'null'],
  ['null', 'true'],
  ['false', '"no!"'],
  ['true', '1e99'],
  ['"float32"', '"float64"'],
  ['"float32"', '"int8xx"'],
  ['"Dense"', '"Danse"'],
  ['"relu"', '"tanh"'],
  ['"relu"', '"xyzw"'],
];

/**
 * Changes a digit, a letter inside a name, or a literal of the Keras config text stored in
 * the file. The text keeps its length and stays valid JSON, so that HDF5 still reads the
 * attribute and the change reaches the config checks.
 */
function editConfigText(bytes: Uint8Array, random: Random): [Uint8Array, string] {
  const ranges = configRanges(bytes);
  if (ranges.length === 0) return flipBytes(bytes, random);
  const copy = bytes.slice();
  const [start, end] = random.pick(ranges);
  const text = Buffer.from(copy.subarray(start, end)).toString('latin1');
  const choice = random.below(4);

  if (choice === 0) {
    const digits = [...text.matchAll(/\d+/g)];
    if (digits.length === 0) return flipBytes(bytes, random);
    const match = random.pick(digits);
    const replacement = random.next() < 0.5 ? '9'.repeat(match[0].length) : String(random.below(10)).padStart(match[0].length, '0');
    copy.set(Buffer.from(replacement), start + (match.index ?? 0));
    return [copy, `set config digits ${match[0]} to ${replacement} at ${start + (match.index ?? 0)}`];
  }
  if (choice === 1) {
    const letters = [...text.matchAll(/"[a-z_]+"/g)];
    if (letters.length === 0) return flipBytes(bytes, random);
    const match = random.pick(letters);
    const position = start + (match.index ?? 0) + 1 + random.below(match[0].length - 2);
    copy[position] = 0x61 + random.below(26);
    return [copy, `changed the config name ${match[0]} at ${position}`];
  }
  const [from, to] = random.pick(LITERAL_SWAPS);
  const positions = [...text.matchAll(new RegExp(from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g'))].map((match) => start + (match.index ?? 0));
  if (positions.length === 0) return flipBytes(bytes, random);
  const position = random.pick(positions);
  copy.set(Buffer.from(to.padEnd(from.length, ' ')), position);
  return [copy, `replaced ${from} with ${to} at ${position}`];
}

/** Offsets of the HDF5 superblock fields and of object header signatures, where sizes and addresses sit. */
function hdf5FieldOffsets(bytes: Uint8Array): number[] {
  const offsets: number[] = [];
  for (let at = 8; at < 96; at += 4) offsets.push(at);
  for (const signature of ['OHDR', 'TREE', 'HEAP', 'GCOL', 'SNOD', 'BTHD', 'FRHP', 'FHDB']) {
    for (const at of findAll(bytes, Buffer.from(signature))) {
      for (let field = 4; field < 48; field += 4) offsets.push(at + field);
    }
  }
  return offsets;
}

/**
 * Unpacks a zip, mutates the contents of one member (its config text, its HDF5 structure or
 * its bytes) and packs it again with correct CRC-32 values, so that the change reaches the
 * parsers of the member instead of the archive's checksum check.
 */
function mutateMember(bytes: Uint8Array, random: Random): [Uint8Array, string] {
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(bytes);
  } catch {
    return flipBytes(bytes, random);
  }
  const names = Object.keys(members);
  if (names.length === 0) return flipBytes(bytes, random);

  const name = random.pick(names);
  const content = members[name] as Uint8Array;
  let mutation: Mutation;
  if (name.endsWith('.json')) mutation = random.pick([editConfigText, editConfigText, flipBytes, truncate]);
  else if (name.endsWith('.h5')) mutation = random.pick([editConfigText, flipBytes, flipBits, (data: Uint8Array, generator: Random) => overwriteInteger(data, generator, hdf5FieldOffsets(data))]);
  else mutation = random.pick([flipBytes, flipBits, truncate, insertBytes]);
  const [changed, step] = mutation(content, random);

  const method = random.next() < 0.5 ? 0 : 8;
  const rebuilt = buildZip(names.map((memberName) => ({ name: memberName, data: memberName === name ? changed : (members[memberName] as Uint8Array), method })));
  return [rebuilt, `in member ${name}: ${step}`];
}

type Mutation = (bytes: Uint8Array, random: Random) => [Uint8Array, string];

function mutationsFor(kind: FileKind): Mutation[] {
  // Byte and bit flips come twice as often as length changes, which most formats reject at once.
  const generic: Mutation[] = [flipBytes, flipBytes, flipBits, flipBits, truncate, insertBytes, removeBytes];
  switch (kind) {
    case 'npy':
      return [...generic, editNpyHeader, editNpyHeader, (bytes, random) => overwriteInteger(bytes, random, [6, 7, 8, 9])];
    case 'npz':
      return [...generic, editNpyHeader, (bytes, random) => overwriteInteger(bytes, random, zipFieldOffsets(bytes)), (bytes, random) => overwriteInteger(bytes, random, zipFieldOffsets(bytes))];
    case 'zip':
      return [...generic, mutateMember, mutateMember, mutateMember, (bytes, random) => overwriteInteger(bytes, random, zipFieldOffsets(bytes))];
    case 'h5':
      // Most steps keep the length, because any length change fails the HDF5 end-of-file check at once.
      return [
        ...generic,
        editConfigText,
        editConfigText,
        editConfigText,
        editConfigText,
        (bytes, random) => overwriteInteger(bytes, random, hdf5FieldOffsets(bytes)),
        (bytes, random) => overwriteInteger(bytes, random, hdf5FieldOffsets(bytes)),
      ];
  }
}

/** Applies one to three random mutations suited to the kind of file. */
export function mutate(bytes: Uint8Array, kind: FileKind, random: Random): Mutant {
  const mutations = mutationsFor(kind);
  const count = 1 + random.below(3);
  // A plain copy, because slice() on a Buffer returns a view and the mutations would
  // then change the seed itself.
  let current = new Uint8Array(bytes);
  const steps: string[] = [];
  for (let i = 0; i < count; i++) {
    const [next, step] = random.pick(mutations)(current, random);
    current = next;
    steps.push(step);
  }
  return { bytes: current, steps };
}
