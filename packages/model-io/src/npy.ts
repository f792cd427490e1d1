// Reads NumPy `.npy` arrays (format versions 1.0, 2.0 and 3.0): a magic string, a
// header that is a Python dict literal, then the raw values. The header is checked
// strictly, because a dataset is an upload and its sizes may lie.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

import { CentroidError } from '@centroid/contracts';

import { float16ToFloat32 } from './float16.js';

/** Element types that `readNpy` and `readNpz` accept, named as NumPy names them. */
export type NdDtype =
  | 'bool'
  | 'uint8'
  | 'int8'
  | 'uint16'
  | 'int16'
  | 'uint32'
  | 'int32'
  | 'uint64'
  | 'int64'
  | 'float16'
  | 'float32'
  | 'float64';

export type NdTypedArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array;

/**
 * A decoded array in C (row-major) order. `data` has the typed array of `dtype`, with
 * three exceptions, because JavaScript has no float16 array and tensors have no 64-bit
 * integers: `bool` becomes a Uint8Array of 0 and 1, `float16` a Float32Array, and
 * `int64` and `uint64` an Int32Array when every value fits in 32 bits, otherwise a
 * Float64Array when every value is within ±(2^53 − 1). Larger integers are rejected.
 */
export interface NdArray {
  /** Array name: the file name, or the NPZ member name, without `.npy`. */
  name: string;
  /** The element type stored in the file. */
  dtype: NdDtype;
  /** Dimensions; `[]` for a scalar. */
  shape: number[];
  data: NdTypedArray;
}

/** The parsed header of an `.npy` array. */
export interface NpyHeader {
  dtype: NdDtype;
  /** Byte order of the stored values. */
  littleEndian: boolean;
  /** Bytes per stored element. */
  itemSize: number;
  fortranOrder: boolean;
  shape: number[];
  /** Number of elements: the product of `shape`. */
  elementCount: number;
  /** Bytes from the start of the file to the first value. */
  dataOffset: number;
  /** Bytes of values that follow the header. */
  dataLength: number;
}

/** Names the array and the file that contains it, for error messages. */
export interface NpyContext {
  /** Name of the uploaded file. */
  filename: string;
  /** Array name without `.npy`. */
  name: string;
}

/** The magic string that starts every .npy file, `\x93NUMPY`. */
export const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** Bytes before the header text: magic, version and a header length of 2 bytes (1.0) or 4 bytes (2.0, 3.0). */
const PREAMBLE_LENGTH_V1 = 10;
const PREAMBLE_LENGTH_V2 = 12;

/** numpy.lib.format rejects headers longer than this unless asked to trust the file. */
export const MAX_HEADER_LENGTH = 10_000;

const DESCRIPTORS: Record<string, { dtype: NdDtype; itemSize: number }> = {
  b1: { dtype: 'bool', itemSize: 1 },
  u1: { dtype: 'uint8', itemSize: 1 },
  i1: { dtype: 'int8', itemSize: 1 },
  u2: { dtype: 'uint16', itemSize: 2 },
  i2: { dtype: 'int16', itemSize: 2 },
  u4: { dtype: 'uint32', itemSize: 4 },
  i4: { dtype: 'int32', itemSize: 4 },
  u8: { dtype: 'uint64', itemSize: 8 },
  i8: { dtype: 'int64', itemSize: 8 },
  f2: { dtype: 'float16', itemSize: 2 },
  f4: { dtype: 'float32', itemSize: 4 },
  f8: { dtype: 'float64', itemSize: 8 },
};

export function invalidArray(context: NpyContext, problem: string): CentroidError {
  return new CentroidError('DATASET_INVALID', `${context.filename}: array "${context.name}" ${problem}`, {
    file: context.filename,
  });
}

/**
 * Returns the total header length (preamble and header text) once `prefix` contains the
 * preamble, or null while it is shorter than that. Raises DATASET_INVALID for a bad magic
 * string, an unknown version or a header longer than MAX_HEADER_LENGTH.
 */
export function npyHeaderLength(prefix: Uint8Array, context: NpyContext): number | null {
  if (prefix.length < NPY_MAGIC.length + 2) {
    return null;
  }
  if (!NPY_MAGIC.every((byte, index) => prefix[index] === byte)) {
    const found = Array.from(prefix.subarray(0, NPY_MAGIC.length), (byte) => byte.toString(16).padStart(2, '0')).join(' ');
    throw invalidArray(context, `is not an .npy array: expected the magic string \\x93NUMPY, found bytes ${found}.`);
  }

  const major = prefix[6] as number;
  const minor = prefix[7] as number;
  if (![1, 2, 3].includes(major) || minor !== 0) {
    throw invalidArray(context, `has .npy format version ${major}.${minor}; expected 1.0, 2.0 or 3.0.`);
  }

  const preambleLength = major === 1 ? PREAMBLE_LENGTH_V1 : PREAMBLE_LENGTH_V2;
  if (prefix.length < preambleLength) {
    return null;
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const textLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (textLength > MAX_HEADER_LENGTH) {
    throw invalidArray(context, `has a header of ${textLength} bytes; at most ${MAX_HEADER_LENGTH} are accepted.`);
  }
  return preambleLength + textLength;
}

/**
 * Parses an `.npy` header. `bytes` must contain at least the whole header, as
 * `npyHeaderLength` measures it. Raises DATASET_INVALID for anything NumPy would not
 * write: missing or extra keys, an unsupported dtype, or a shape that is not a tuple of
 * non-negative integers.
 */
export function parseNpyHeader(bytes: Uint8Array, context: NpyContext): NpyHeader {
  const headerLength = npyHeaderLength(bytes, context);
  if (headerLength === null || bytes.length < headerLength) {
    throw invalidArray(context, 'is truncated inside its .npy header.');
  }

  const major = bytes[6] as number;
  const textStart = major === 1 ? PREAMBLE_LENGTH_V1 : PREAMBLE_LENGTH_V2;
  const decoder = new TextDecoder(major === 3 ? 'utf-8' : 'latin1');
  const text = decoder.decode(bytes.subarray(textStart, headerLength));

  let literal: unknown;
  try {
    literal = parsePythonLiteral(text);
  } catch (error) {
    throw invalidArray(context, `has an unreadable .npy header (${(error as Error).message}): ${JSON.stringify(text.trim())}.`);
  }
  if (typeof literal !== 'object' || literal === null || Array.isArray(literal)) {
    throw invalidArray(context, `has an .npy header that is not a dict: ${JSON.stringify(text.trim())}.`);
  }

  const dict = literal as Record<string, unknown>;
  const keys = Object.keys(dict).sort();
  if (keys.join(',') !== 'descr,fortran_order,shape') {
    throw invalidArray(context, `has .npy header keys ${JSON.stringify(keys)}; expected exactly descr, fortran_order and shape.`);
  }

  const { dtype, itemSize, littleEndian } = parseDescriptor(dict.descr, context);
  if (typeof dict.fortran_order !== 'boolean') {
    throw invalidArray(context, `has fortran_order ${JSON.stringify(dict.fortran_order)}; expected True or False.`);
  }
  const shape = parseShape(dict.shape, context);

  const elementCount = shape.reduce((product, size) => product * size, 1);
  const dataLength = elementCount * itemSize;
  if (!Number.isSafeInteger(dataLength)) {
    throw invalidArray(context, `declares shape (${shape.join(', ')}), which is too large to address.`);
  }

  return { dtype, itemSize, littleEndian, fortranOrder: dict.fortran_order, shape, elementCount, dataOffset: headerLength, dataLength };
}

function parseDescriptor(descr: unknown, context: NpyContext): { dtype: NdDtype; itemSize: number; littleEndian: boolean } {
  const match = typeof descr === 'string' ? /^([<>|=])([a-z]\d+)$/.exec(descr) : null;
  const known = match === null ? undefined : DESCRIPTORS[match[2] as string];
  if (match === null || known === undefined) {
    throw invalidArray(
      context,
      `has dtype ${JSON.stringify(descr)}, which is not supported; expected bool, (u)int8/16/32/64 or float16/32/64.`,
    );
  }
  // NumPy always writes an explicit '<' or '>', so '=' (the writer's native order) comes
  // from another writer. It is read as little-endian, the order of x86 and ARM.
  return { ...known, littleEndian: match[1] !== '>' };
}

function parseShape(shape: unknown, context: NpyContext): number[] {
  if (!Array.isArray(shape) || !shape.every((size) => Number.isSafeInteger(size) && (size as number) >= 0)) {
    throw invalidArray(context, `has shape ${JSON.stringify(shape)}; expected a tuple of non-negative integers.`);
  }
  return shape as number[];
}

/**
 * Decodes the values of an array into the typed array that NdArray documents, in C order.
 * `data` must contain exactly `header.dataLength` bytes.
 */
export function decodeNpyData(header: NpyHeader, data: Uint8Array, context: NpyContext): NdArray {
  if (data.length !== header.dataLength) {
    throw invalidArray(
      context,
      `has ${data.length} bytes of values, but its header declares shape (${header.shape.join(', ')}) of ${header.dtype}, ` +
        `which needs ${header.dataLength} bytes.`,
    );
  }

  const ordered = header.littleEndian || header.itemSize === 1 ? copyBytes(data) : swapByteOrder(data, header.itemSize);
  let values = toTypedArray(header.dtype, ordered.buffer as ArrayBuffer, context);
  if (header.fortranOrder && header.shape.length > 1) {
    values = fortranToC(values, header.shape);
  }
  return { name: context.name, dtype: header.dtype, shape: header.shape, data: values };
}

function copyBytes(data: Uint8Array): Uint8Array {
  const copy = new Uint8Array(data.length);
  copy.set(data);
  return copy;
}

function swapByteOrder(data: Uint8Array, itemSize: number): Uint8Array {
  const swapped = new Uint8Array(data.length);
  for (let start = 0; start < data.length; start += itemSize) {
    for (let offset = 0; offset < itemSize; offset++) {
      swapped[start + offset] = data[start + itemSize - 1 - offset] as number;
    }
  }
  return swapped;
}

function toTypedArray(dtype: NdDtype, buffer: ArrayBuffer, context: NpyContext): NdTypedArray {
  switch (dtype) {
    case 'bool':
      return new Uint8Array(buffer).map((byte) => (byte === 0 ? 0 : 1));
    case 'uint8':
      return new Uint8Array(buffer);
    case 'int8':
      return new Int8Array(buffer);
    case 'uint16':
      return new Uint16Array(buffer);
    case 'int16':
      return new Int16Array(buffer);
    case 'uint32':
      return new Uint32Array(buffer);
    case 'int32':
      return new Int32Array(buffer);
    case 'int64':
      return narrowInt64(new BigInt64Array(buffer), context);
    case 'uint64':
      return narrowInt64(new BigUint64Array(buffer), context);
    case 'float16':
      return float16ToFloat32(new Uint16Array(buffer));
    case 'float32':
      return new Float32Array(buffer);
    case 'float64':
      return new Float64Array(buffer);
  }
}

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

function narrowInt64(values: BigInt64Array | BigUint64Array, context: NpyContext): Int32Array | Float64Array {
  let fitsInt32 = true;
  for (const value of values) {
    if (value > SAFE_MAX || value < -SAFE_MAX) {
      throw invalidArray(
        context,
        `contains the 64-bit integer ${value}, beyond ±(2^53 − 1), which JavaScript numbers cannot represent exactly.`,
      );
    }
    if (value < INT32_MIN || value > INT32_MAX) {
      fitsInt32 = false;
    }
  }
  return fitsInt32 ? Int32Array.from(values, Number) : Float64Array.from(values, Number);
}

/** Reorders values stored in Fortran (column-major) order into C (row-major) order. */
function fortranToC<T extends NdTypedArray>(values: T, shape: number[]): T {
  const result = new (values.constructor as new (length: number) => T)(values.length);
  const rank = shape.length;

  // Fortran strides: the first axis varies fastest.
  const fortranStrides: number[] = [];
  let stride = 1;
  for (const size of shape) {
    fortranStrides.push(stride);
    stride *= size;
  }

  // Walk the C-order output, carrying a multi-index whose last axis varies fastest.
  const index = new Array<number>(rank).fill(0);
  let source = 0;
  for (let target = 0; target < values.length; target++) {
    result[target] = values[source] as number;
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis] = (index[axis] as number) + 1;
      source += fortranStrides[axis] as number;
      if ((index[axis] as number) < (shape[axis] as number)) {
        break;
      }
      source -= (index[axis] as number) * (fortranStrides[axis] as number);
      index[axis] = 0;
    }
  }
  return result;
}

/** Parses a complete `.npy` file held in memory. */
export function parseNpy(bytes: Uint8Array, context: NpyContext): NdArray {
  const header = parseNpyHeader(bytes, context);
  return decodeNpyData(header, bytes.subarray(header.dataOffset), context);
}

/**
 * Reads an `.npy` array from a file path or from bytes. For bytes, `name` names the
 * array and `filename` the file in error messages; both default to "array".
 */
export async function readNpy(source: string | Uint8Array, options: { name?: string; filename?: string } = {}): Promise<NdArray> {
  if (typeof source === 'string') {
    const filename = options.filename ?? basename(source);
    const name = options.name ?? filename.replace(/\.npy$/, '');
    return parseNpy(await readFile(source), { filename, name });
  }
  return parseNpy(source, { filename: options.filename ?? 'array', name: options.name ?? 'array' });
}

/**
 * Parses the Python literal of an `.npy` header: a dict whose values are strings,
 * booleans, integers, tuples and lists. Raises an Error for anything else.
 */
export function parsePythonLiteral(text: string): unknown {
  let position = 0;

  const skipSpace = () => {
    while (position < text.length && /\s/.test(text[position] as string)) {
      position++;
    }
  };

  const expect = (character: string) => {
    skipSpace();
    if (text[position] !== character) {
      throw new Error(`expected "${character}" at offset ${position}`);
    }
    position++;
  };

  const parseSequence = (close: string): unknown[] => {
    const items: unknown[] = [];
    skipSpace();
    while (text[position] !== close) {
      items.push(parseValue());
      skipSpace();
      if (text[position] === ',') {
        position++;
        skipSpace();
      } else if (text[position] !== close) {
        throw new Error(`expected "," or "${close}" at offset ${position}`);
      }
    }
    position++;
    return items;
  };

  const parseValue = (): unknown => {
    skipSpace();
    const character = text[position];
    if (character === '{') {
      position++;
      const dict: Record<string, unknown> = {};
      skipSpace();
      while (text[position] !== '}') {
        const key = parseValue();
        if (typeof key !== 'string') {
          throw new Error(`expected a string key at offset ${position}`);
        }
        if (Object.prototype.hasOwnProperty.call(dict, key)) {
          throw new Error(`duplicate key "${key}"`);
        }
        expect(':');
        dict[key] = parseValue();
        skipSpace();
        if (text[position] === ',') {
          position++;
          skipSpace();
        } else if (text[position] !== '}') {
          throw new Error(`expected "," or "}" at offset ${position}`);
        }
      }
      position++;
      return dict;
    }
    if (character === '(') {
      position++;
      return parseSequence(')');
    }
    if (character === '[') {
      position++;
      return parseSequence(']');
    }
    if (character === "'" || character === '"') {
      const end = text.indexOf(character, position + 1);
      if (end < 0) {
        throw new Error(`unterminated string at offset ${position}`);
      }
      const value = text.slice(position + 1, end);
      position = end + 1;
      return value;
    }
    const word = /^(True|False|-?\d+)/.exec(text.slice(position));
    if (word === null) {
      throw new Error(`unexpected character ${JSON.stringify(character ?? 'end of text')} at offset ${position}`);
    }
    position += (word[1] as string).length;
    if (word[1] === 'True' || word[1] === 'False') {
      return word[1] === 'True';
    }
    return Number(word[1]);
  };

  const value = parseValue();
  skipSpace();
  if (position !== text.length) {
    throw new Error(`unexpected text after the dict at offset ${position}`);
  }
  return value;
}
