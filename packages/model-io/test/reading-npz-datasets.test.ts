import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { describe, test } from 'node:test';

import { Deflate } from 'fflate';

import { isCentroidError } from '@centroid/contracts';

import { readNpz, readNpzArrayNames } from '../src/index.js';
import { runInChild } from '../src/isolation/run-in-child.js';
import { buildNpy, buildZip, type ZipMember } from './archive-builders.js';
import { fixture, temporaryFolder } from './helpers.js';

import type { TestContext } from 'node:test';
import type { ErrorCode } from '@centroid/contracts';
import type { NdArray, NdArrayInfo } from '../src/index.js';

function ramp(count: number, scale = 1, offset = 0): number[] {
  return Array.from({ length: count }, (_, index) => index * scale + offset);
}

/** The arrays that make_fixtures.py writes, recomputed from the same formulas. */
const EXPECTED: Record<string, { dtype: string; shape: number[]; type: string; values: number[] }> = {
  uint8: { dtype: 'uint8', shape: [6], type: 'Uint8Array', values: ramp(6, 40) },
  int8: { dtype: 'int8', shape: [6], type: 'Int8Array', values: ramp(6, 25, -60) },
  int16: { dtype: 'int16', shape: [6], type: 'Int16Array', values: ramp(6, 1000, -3000) },
  int32: { dtype: 'int32', shape: [6], type: 'Int32Array', values: ramp(6, 100000, -300000) },
  int64_small: { dtype: 'int64', shape: [2, 3], type: 'Int32Array', values: ramp(6, 7, -20) },
  int64_large: { dtype: 'int64', shape: [3], type: 'Float64Array', values: ramp(3, 2 ** 40, -(2 ** 41)) },
  uint16: { dtype: 'uint16', shape: [4], type: 'Uint16Array', values: ramp(4, 9000) },
  uint32: { dtype: 'uint32', shape: [4], type: 'Uint32Array', values: ramp(4, 1e9) },
  float16: { dtype: 'float16', shape: [5], type: 'Float32Array', values: ramp(5, 0.25, -0.5) },
  float32: { dtype: 'float32', shape: [2, 3, 4], type: 'Float32Array', values: ramp(24, 0.5, -3) },
  float64: { dtype: 'float64', shape: [4], type: 'Float64Array', values: ramp(4, 0.1) },
  bool: { dtype: 'bool', shape: [5], type: 'Uint8Array', values: [0, 1, 0, 1, 0] },
  big_endian_float32: { dtype: 'float32', shape: [4], type: 'Float32Array', values: ramp(4, 1.5, -2) },
  big_endian_int32: { dtype: 'int32', shape: [4], type: 'Int32Array', values: ramp(4, -70000, 5) },
  fortran_float32: { dtype: 'float32', shape: [2, 3], type: 'Float32Array', values: ramp(6) },
  scalar: { dtype: 'float64', shape: [], type: 'Float64Array', values: [3.5] },
  empty: { dtype: 'float32', shape: [0, 3], type: 'Float32Array', values: [] },
};

const float32Npy = (values: number[], shape = `(${values.length},)`) =>
  buildNpy(`{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`, new Uint8Array(new Float32Array(values).buffer));

/**
 * Builds a deflated `.npy` member of float32 zeros with the given shape, streaming the
 * zeros through the compressor 1 MiB at a time so the values are never all in memory.
 */
function buildZerosMember(name: string, shape: number[]): ZipMember {
  const header = buildNpy(`{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`, new Uint8Array(0));
  const valueBytes = shape.reduce((product, size) => product * size, 4);
  const zeros = new Uint8Array(1024 * 1024);

  const parts: Uint8Array[] = [];
  const deflate = new Deflate((chunk) => parts.push(chunk));
  deflate.push(header);
  let crc = crc32(header);
  for (let written = 0; written < valueBytes; written += zeros.length) {
    const chunk = zeros.subarray(0, Math.min(zeros.length, valueBytes - written));
    deflate.push(chunk);
    crc = crc32(chunk, crc);
  }
  deflate.push(new Uint8Array(0), true);

  return { name, data: header, method: 8, deflated: Buffer.concat(parts), declaredSize: header.length + valueBytes, crc };
}

async function writeTemporary(t: TestContext, name: string, bytes: Uint8Array): Promise<string> {
  const path = join(await temporaryFolder(t), name);
  await writeFile(path, bytes);
  return path;
}

async function assertRejects(promise: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isCentroidError(error), `expected a CentroidError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

function assertArray(array: NdArray | undefined, name: string): void {
  const expected = EXPECTED[name];
  assert.ok(expected !== undefined, `no expectation for array ${name}`);
  assert.ok(array !== undefined, `array ${name} is missing`);
  assert.equal(array.name, name);
  assert.equal(array.dtype, expected.dtype, `${name} dtype`);
  assert.deepEqual(array.shape, expected.shape, `${name} shape`);
  assert.equal(array.data.constructor.name, expected.type, `${name} typed array`);
  assert.deepEqual(Array.from(array.data as Float64Array), expected.values, `${name} values`);
}

describe('readNpz', () => {
  for (const archive of ['arrays-stored.npz', 'arrays-deflated.npz']) {
    test(`decodes every dtype of ${archive}`, async () => {
      const arrays = await readNpz(fixture(archive));

      assert.deepEqual([...arrays.keys()].sort(), Object.keys(EXPECTED).sort());
      for (const name of Object.keys(EXPECTED)) {
        assertArray(arrays.get(name), name);
      }
    });
  }

  test('reads only requested arrays', async () => {
    const arrays = await readNpz(fixture('arrays-deflated.npz'), { arrays: ['float32', 'bool'] });

    assert.deepEqual([...arrays.keys()], ['float32', 'bool']);
    assertArray(arrays.get('float32'), 'float32');
  });

  test('reads Keras predictions fixture', async () => {
    const arrays = await readNpz(fixture('tiny-cnn.io.npz'));

    assert.deepEqual(arrays.get('x')?.shape, [3, 10, 10, 1]);
    assert.deepEqual(arrays.get('y')?.shape, [3, 10]);
  });

  test('reads a hand-built deflated archive', async (t) => {
    const path = await writeTemporary(t, 'built.npz', buildZip([{ name: 'w.npy', data: float32Npy([1, 2, 3]), method: 8 }]));
    const arrays = await readNpz(path);

    assert.deepEqual(Array.from(arrays.get('w')?.data ?? []), [1, 2, 3]);
  });
});

describe('readNpzArrayNames', () => {
  test('lists arrays from headers only', async () => {
    const described: Record<string, { dtype: string; shape: number[] }> = JSON.parse(await readFile(fixture('arrays.json'), 'utf8'));
    const infos = await readNpzArrayNames(fixture('arrays-deflated.npz'));

    assert.deepEqual(infos.map((info) => info.name).sort(), Object.keys(described).sort());
    for (const info of infos) {
      assert.deepEqual(info.shape, described[info.name]?.shape, `${info.name} shape`);
      assert.equal(info.dtype, EXPECTED[info.name]?.dtype, `${info.name} dtype`);
    }
  });

  test('reads huge member header in bounded memory', async (t) => {
    // 65536 × 1024 float32 zeros are 256 MiB, which deflate to about 256 KB.
    const member = buildZerosMember('zeros.npy', [65536, 1024]);
    const path = await writeTemporary(t, 'zeros.npz', buildZip([member]));

    // A fresh process makes its peak RSS that of this call alone. Reading the header
    // inflates at most about 4 MiB per step, and fflate's buffers and the joined header
    // bytes add a few times that. So 64 MiB is a wide bound, yet far below the 256 MiB
    // that inflating the whole member takes.
    const { infos, peakGrowthBytes } = await runInChild<{ infos: NdArrayInfo[]; peakGrowthBytes: number }>(
      new URL('./npz-memory-entry.ts', import.meta.url),
      { task: 'measureReadNpzArrayNames', args: [path] },
      { timeoutMs: 60_000, describeFailure: ({ stderr }) => new Error(`the measuring process failed: ${stderr}`) },
    );
    t.diagnostic(`peak RSS grew by ${(peakGrowthBytes / 1024 ** 2).toFixed(1)} MiB while reading a ${member.deflated?.length}-byte member`);

    assert.deepEqual(infos, [{ name: 'zeros', dtype: 'float32', shape: [65536, 1024] }]);
    assert.ok(peakGrowthBytes < 64 * 1024 ** 2, `peak RSS grew by ${peakGrowthBytes} bytes`);
  });

  test('rejects a header that disagrees with the directory', async (t) => {
    const npy = float32Npy([1, 2, 3]);
    const path = await writeTemporary(t, 'lying.npz', buildZip([{ name: 'w.npy', data: npy, method: 8, declaredSize: npy.length - 4 }]));

    await assertRejects(readNpzArrayNames(path), 'DATASET_INVALID', /array "w" declares \d+ bytes in the zip directory/);
  });
});

describe('readNpz bad input', () => {
  test('rejects a missing array', async () => {
    await assertRejects(
      readNpz(fixture('arrays-stored.npz'), { arrays: ['float32', 'labels'] }),
      'DATASET_ARRAY_MISSING',
      /arrays-stored\.npz has no array "labels"; the arrays it contains are .*"float32"/,
    );
  });

  test('rejects arrays over the size limit', async () => {
    await assertRejects(
      readNpz(fixture('arrays-deflated.npz'), { maxExpandedBytes: 1000 }),
      'DATASET_INVALID',
      /arrays-deflated\.npz expands to \d+ bytes, more than the limit of 1000 bytes/,
    );
  });

  test('rejects data inflating past its size', async (t) => {
    // The directory and the .npy header agree on 3 values, but the deflate stream contains
    // 100000, as a zip bomb would.
    const honestHeader = float32Npy([1, 2, 3]);
    const bomb = float32Npy(new Array<number>(100_000).fill(0), '(3,)');
    const path = await writeTemporary(t, 'bomb.npz', buildZip([{ name: 'w.npy', data: bomb, method: 8, declaredSize: honestHeader.length }]));

    await assertRejects(readNpz(path), 'DATASET_INVALID', /array "w" inflates to more than the \d+ bytes that the zip directory declares/);
  });

  test('rejects an impossible deflate ratio', async (t) => {
    // 4 GB of float32 zeros would need at least 4 MB of deflate data; this member has a few bytes.
    const npy = float32Npy([0], '(1000000000,)');
    const path = await writeTemporary(t, 'ratio.npz', buildZip([{ name: 'w.npy', data: npy, method: 8, declaredSize: 4_000_000_128 }]));

    await assertRejects(readNpz(path), 'DATASET_INVALID', /deflated member "w\.npy" declares 4000000128 bytes uncompressed from \d+ compressed bytes/);
  });

  test('rejects stored sizes that disagree', async (t) => {
    const npy = float32Npy([1, 2, 3]);
    const path = await writeTemporary(t, 'stored.npz', buildZip([{ name: 'w.npy', data: npy, method: 0, declaredSize: npy.length - 4 }]));

    await assertRejects(readNpz(path), 'DATASET_INVALID', /stored member "w\.npy" declares 140 bytes stored but 136 bytes uncompressed/);
  });

  test('rejects a CRC mismatch', async (t) => {
    const path = await writeTemporary(t, 'crc.npz', buildZip([{ name: 'w.npy', data: float32Npy([1, 2, 3]), method: 0, crc: 12345 }]));

    await assertRejects(readNpz(path), 'DATASET_INVALID', /array "w" fails its CRC-32 check/);
  });

  test('rejects corrupt deflate data', async (t) => {
    const archive = buildZip([{ name: 'w.npy', data: float32Npy(ramp(64)), method: 8 }]);
    archive.fill(0xff, 40, 60);
    const path = await writeTemporary(t, 'corrupt.npz', archive);

    await assertRejects(readNpz(path), 'DATASET_INVALID', /corrupt\.npz/);
  });

  test('rejects a truncated archive', async (t) => {
    const whole = await readFile(fixture('arrays-stored.npz'));
    const path = await writeTemporary(t, 'truncated.npz', whole.subarray(0, whole.length - 200));

    await assertRejects(readNpz(path), 'DATASET_INVALID', /truncated\.npz is not a valid NPZ \(zip\) archive/);
  });

  test('rejects a file that is not a zip', async (t) => {
    const path = await writeTemporary(t, 'notes.npz', Buffer.from('x_train,y_train\n1,2\n'));

    await assertRejects(readNpz(path), 'DATASET_INVALID', /no end-of-central-directory record/);
  });

  test('names an HDF5 model given as dataset', async () => {
    for (const read of [readNpz, readNpzArrayNames]) {
      await assertRejects(read(fixture('small.h5')), 'DATASET_INVALID', /^small\.h5 is not a valid NPZ \(zip\) archive: it is an HDF5 file, such as a Keras \.h5 model\. Send a model as the model/);
    }
  });

  test('names a single .npy given as dataset', async (t) => {
    const path = await writeTemporary(t, 'x_train.npy', float32Npy([1, 2, 3]));

    for (const read of [readNpz, readNpzArrayNames]) {
      await assertRejects(read(path), 'DATASET_INVALID', /^x_train\.npy is not a valid NPZ \(zip\) archive: it is a single \.npy array\. Save the arrays in one file with numpy\.savez/);
    }
  });

  test('names an empty dataset file', async (t) => {
    const path = await writeTemporary(t, 'empty.npz', Buffer.alloc(0));

    await assertRejects(readNpz(path), 'DATASET_INVALID', /^empty\.npz is not a valid NPZ \(zip\) archive: the file is empty \(0 bytes\)\.$/);
  });

  test('rejects a bad member header', async (t) => {
    const member = float32Npy([1, 2]);
    member[1] = 0x58;
    const path = await writeTemporary(t, 'magic.npz', buildZip([{ name: 'w.npy', data: member, method: 8 }]));

    await assertRejects(readNpz(path), 'DATASET_INVALID', /array "w" is not an \.npy array: expected the magic string/);
  });

  test('rejects a duplicate array name', async (t) => {
    const member = { name: 'w.npy', data: float32Npy([1]), method: 0 as const };
    const path = await writeTemporary(t, 'twice.npz', buildZip([member, member]));

    await assertRejects(readNpz(path), 'DATASET_INVALID', /twice\.npz contains array "w" more than once/);
  });
});
