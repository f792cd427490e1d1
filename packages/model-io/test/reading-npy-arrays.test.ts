import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { isCentroidError } from '@centroid/contracts';

import { readNpy } from '../src/index.js';
import { parsePythonLiteral } from '../src/npy.js';
import { fixture } from './helpers.js';

function buildNpy(header: string, data: Uint8Array, version: 1 | 2 = 1): Uint8Array {
  const preamble = version === 1 ? 10 : 12;
  const text = header + ' '.repeat((64 - ((preamble + header.length + 1) % 64)) % 64) + '\n';
  const bytes = new Uint8Array(preamble + text.length + data.length);
  bytes.set([0x93, ...Buffer.from('NUMPY'), version, 0]);
  const view = new DataView(bytes.buffer);
  if (version === 1) {
    view.setUint16(8, text.length, true);
  } else {
    view.setUint32(8, text.length, true);
  }
  bytes.set(Buffer.from(text, 'latin1'), preamble);
  bytes.set(data, preamble + text.length);
  return bytes;
}

function header(descr: string, shape: string, fortranOrder = 'False'): string {
  return `{'descr': '${descr}', 'fortran_order': ${fortranOrder}, 'shape': ${shape}, }`;
}

function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

async function assertInvalid(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  await assert.rejects(readNpy(bytes, { name: 'labels', filename: 'train.npy' }), (error: unknown) => {
    assert.ok(isCentroidError(error), `expected a CentroidError, got ${String(error)}`);
    assert.equal(error.code, 'DATASET_INVALID');
    assert.match(error.message, /^train\.npy: array "labels" /);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('readNpy', () => {
  test('reads a NumPy file by path', async () => {
    const array = await readNpy(fixture('float32.npy'));

    assert.equal(array.name, 'float32');
    assert.equal(array.dtype, 'float32');
    assert.deepEqual(array.shape, [2, 3, 4]);
    assert.deepEqual(Array.from(array.data), Array.from({ length: 24 }, (_, index) => index * 0.5 - 3));
  });

  test('reads format version 2.0', async () => {
    const array = await readNpy(buildNpy(header('<i2', '(3,)'), bytesOf(new Int16Array([-1, 0, 7])), 2));

    assert.equal(array.data.constructor, Int16Array);
    assert.deepEqual(Array.from(array.data), [-1, 0, 7]);
  });

  test('converts big-endian float64', async () => {
    const data = new Uint8Array(16);
    new DataView(data.buffer).setFloat64(0, 1.25, false);
    new DataView(data.buffer).setFloat64(8, -3e100, false);
    const array = await readNpy(buildNpy(header('>f8', '(2,)'), data));

    assert.deepEqual(Array.from(array.data), [1.25, -3e100]);
  });

  test('reorders Fortran-order 3-D arrays', async () => {
    // Element (i, j, k) of shape (2, 3, 2) is 100i + 10j + k, and Fortran order stores i fastest.
    const fortran: number[] = [];
    for (let k = 0; k < 2; k++) {
      for (let j = 0; j < 3; j++) {
        for (let i = 0; i < 2; i++) {
          fortran.push(100 * i + 10 * j + k);
        }
      }
    }
    const array = await readNpy(buildNpy(header('<i4', '(2, 3, 2)', 'True'), bytesOf(new Int32Array(fortran))));

    assert.deepEqual(Array.from(array.data), [0, 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121]);
  });

  test('normalises bool bytes to 0 and 1', async () => {
    const array = await readNpy(buildNpy(header('|b1', '(3,)'), Uint8Array.from([0, 1, 7])));

    assert.equal(array.dtype, 'bool');
    assert.deepEqual(Array.from(array.data), [0, 1, 1]);
  });

  test('narrows uint64 to Int32Array', async () => {
    const array = await readNpy(buildNpy(header('<u8', '(2,)'), bytesOf(new BigUint64Array([5n, 2147483647n]))));

    assert.equal(array.data.constructor, Int32Array);
    assert.deepEqual(Array.from(array.data), [5, 2147483647]);
  });
});

describe('readNpy bad input', () => {
  const floats = bytesOf(new Float32Array([1, 2, 3]));

  test('rejects a bad magic string', async () => {
    const bytes = buildNpy(header('<f4', '(3,)'), floats);
    bytes[0] = 0x50;
    await assertInvalid(bytes, /is not an \.npy array: expected the magic string \\x93NUMPY, found bytes 50 4e 55 4d 50 59/);
  });

  test('rejects an unknown format version', async () => {
    const bytes = buildNpy(header('<f4', '(3,)'), floats);
    bytes[6] = 4;
    await assertInvalid(bytes, /has \.npy format version 4\.0; expected 1\.0, 2\.0 or 3\.0/);
  });

  test('rejects fewer values than declared', async () => {
    await assertInvalid(buildNpy(header('<f4', '(4,)'), floats), /has 12 bytes of values, but its header declares shape \(4\) of float32, which needs 16 bytes/);
  });

  test('rejects more values than declared', async () => {
    await assertInvalid(buildNpy(header('<f4', '(2,)'), floats), /has 12 bytes of values, .* needs 8 bytes/);
  });

  test('rejects a truncated header', async () => {
    await assertInvalid(buildNpy(header('<f4', '(3,)'), floats).subarray(0, 40), /is truncated inside its \.npy header/);
  });

  test('rejects an oversized header length', async () => {
    const bytes = buildNpy(header('<f4', '(3,)'), floats, 2);
    new DataView(bytes.buffer).setUint32(8, 1_000_000, true);
    await assertInvalid(bytes, /has a header of 1000000 bytes; at most 10000 are accepted/);
  });

  test('rejects an unsupported dtype', async () => {
    await assertInvalid(buildNpy(header('<c8', '(3,)'), floats), /has dtype "<c8", which is not supported/);
  });

  test('rejects an object dtype', async () => {
    await assertInvalid(buildNpy(header('|O', '(3,)'), floats), /has dtype "\|O", which is not supported/);
  });

  test('rejects a structured dtype', async () => {
    await assertInvalid(buildNpy(`{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }`, floats), /has dtype \[\["a","<f4"\]\]/);
  });

  test('rejects missing header keys', async () => {
    await assertInvalid(buildNpy(`{'descr': '<f4', 'shape': (3,), }`, floats), /has \.npy header keys \["descr","shape"\]; expected exactly/);
  });

  test('rejects extra header keys', async () => {
    await assertInvalid(buildNpy(`{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}`, floats), /header keys/);
  });

  test('rejects a negative dimension', async () => {
    await assertInvalid(buildNpy(header('<f4', '(-3,)'), floats), /has shape \[-3\]; expected a tuple of non-negative integers/);
  });

  test('rejects a header that is not a literal', async () => {
    await assertInvalid(buildNpy(`{'descr': '<f4', 'fortran_order': __import__('os'), 'shape': (3,)}`, floats), /has an unreadable \.npy header/);
  });

  test('rejects int64 beyond 2^53', async () => {
    await assertInvalid(buildNpy(header('<i8', '(1,)'), bytesOf(new BigInt64Array([2n ** 60n]))), /contains the 64-bit integer 1152921504606846976, beyond/);
  });
});

describe('parsePythonLiteral', () => {
  test('parses NumPy header literals', () => {
    assert.deepEqual(parsePythonLiteral(`{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`), {
      descr: '<f4',
      fortran_order: false,
      shape: [2, 3],
    });
    assert.deepEqual(parsePythonLiteral('{"shape": (), "a": [1, -2]}'), { shape: [], a: [1, -2] });
  });

  test('rejects duplicate keys', () => {
    assert.throws(() => parsePythonLiteral(`{'shape': (1,), 'shape': (2,)}`), /duplicate key "shape"/);
  });

  test('rejects trailing text', () => {
    assert.throws(() => parsePythonLiteral(`{'shape': (1,)} x`), /unexpected text after the dict/);
  });
});
