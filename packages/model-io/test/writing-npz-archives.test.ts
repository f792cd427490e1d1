import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';

import { isCentroidError } from '@centroid/contracts';

import { NpzWriter, packNpyFiles, readNpz, readNpzArrayNames } from '../src/index.js';
import { buildNpy, bytesOf, chunked, npyHeader } from './archive-builders.js';
import { pythonSkipReason, temporaryFolder, venvPython } from './helpers.js';

import type { TestContext } from 'node:test';
import type { ErrorCode } from '@centroid/contracts';

async function assertRejects(promise: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isCentroidError(error), `expected a CentroidError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

/** Packs `.npy` byte arrays with NpzWriter, streaming each in 7-byte chunks, and writes the archive to a file. */
async function packToFile(t: TestContext, arrays: { name: string; bytes: Uint8Array }[]): Promise<string> {
  const chunks: Uint8Array[] = [];
  const writer = new NpzWriter(async (chunk) => {
    chunks.push(chunk.slice());
  });
  for (const array of arrays) {
    await writer.addNpy(array.name, chunked(array.bytes, 7), `${array.name}.npy`);
  }
  await writer.finish();

  const path = join(await temporaryFolder(t), 'packed.npz');
  await writeFile(path, Buffer.concat(chunks));
  return path;
}

/** Counts the bytes that a consumer takes from a source, to show it reads to the end. */
function countingSource(bytes: Uint8Array): { source: AsyncGenerator<Uint8Array>; consumed: () => number } {
  let consumed = 0;
  async function* source(): AsyncGenerator<Uint8Array> {
    for await (const chunk of chunked(bytes, 16)) {
      consumed += chunk.length;
      yield chunk;
    }
  }
  return { source: source(), consumed: () => consumed };
}

const images = buildNpy(npyHeader('|u1', [3, 2, 2]), Uint8Array.from({ length: 12 }, (_, index) => index * 20));
const labels = buildNpy(npyHeader('<i8', [3]), bytesOf(new BigInt64Array([2n, 0n, 1n])));

describe('NpzWriter', () => {
  test('packs arrays that readNpz decodes', async (t) => {
    const bigEndian = new Uint8Array(8);
    new DataView(bigEndian.buffer).setFloat32(0, 1.5, false);
    new DataView(bigEndian.buffer).setFloat32(4, -2, false);
    const fortran = buildNpy(npyHeader('<f8', [2, 3], true), bytesOf(new Float64Array([0, 3, 1, 4, 2, 5])));

    const path = await packToFile(t, [
      { name: 'x_train', bytes: images },
      { name: 'y_train', bytes: labels },
      { name: 'big', bytes: buildNpy(npyHeader('>f4', [2]), bigEndian) },
      { name: 'fortran', bytes: fortran },
    ]);
    const arrays = await readNpz(path);

    assert.deepEqual([...arrays.keys()], ['x_train', 'y_train', 'big', 'fortran']);
    assert.deepEqual(arrays.get('x_train')?.shape, [3, 2, 2]);
    assert.deepEqual(Array.from(arrays.get('x_train')?.data ?? []), Array.from({ length: 12 }, (_, index) => index * 20));
    assert.deepEqual(Array.from(arrays.get('y_train')?.data ?? []), [2, 0, 1]);
    assert.deepEqual(Array.from(arrays.get('big')?.data ?? []), [1.5, -2]);
    assert.deepEqual(Array.from(arrays.get('fortran')?.data ?? []), [0, 1, 2, 3, 4, 5]);
  });

  test('returns dtype and shape of each array', async () => {
    const writer = new NpzWriter(async () => {});
    const info = await writer.addNpy('x', chunked(images, 5), 'x.npy');

    assert.deepEqual(info, { name: 'x', dtype: 'uint8', shape: [3, 2, 2] });
  });

  test('packs an archive readNpzArrayNames lists', async (t) => {
    const path = await packToFile(t, [
      { name: 'x_test', bytes: images },
      { name: 'y_test', bytes: labels },
    ]);

    assert.deepEqual(await readNpzArrayNames(path), [
      { name: 'x_test', dtype: 'uint8', shape: [3, 2, 2] },
      { name: 'y_test', dtype: 'int64', shape: [3] },
    ]);
  });

  test('packs empty arrays', async (t) => {
    const path = await packToFile(t, [{ name: 'none', bytes: buildNpy(npyHeader('<f4', [0, 4]), new Uint8Array(0)) }]);

    assert.deepEqual((await readNpz(path)).get('none')?.shape, [0, 4]);
  });
});

describe('NpzWriter bad input', () => {
  test('rejects a header that claims more values', async () => {
    // The header declares 100 float32 values (400 bytes) but 3 follow.
    const lying = buildNpy(npyHeader('<f4', [100]), bytesOf(new Float32Array([1, 2, 3])));
    const { source, consumed } = countingSource(lying);

    await assertRejects(
      new NpzWriter(async () => {}).addNpy('x_train', source, 'train-x.npy'),
      'DATASET_INVALID',
      /^train-x\.npy: array "x_train" has 12 bytes of values, but its header declares shape \(100\) of float32, which needs 400 bytes\.$/,
    );
    assert.equal(consumed(), lying.length);
  });

  test('rejects a header that claims fewer values', async () => {
    const lying = buildNpy(npyHeader('<f4', [1]), bytesOf(new Float32Array([1, 2, 3])));

    await assertRejects(new NpzWriter(async () => {}).addNpy('x', chunked(lying, 9), 'x.npy'), 'DATASET_INVALID', /has 12 bytes of values.*needs 4 bytes/);
  });

  test('rejects a stream that ends in the header', async () => {
    await assertRejects(
      new NpzWriter(async () => {}).addNpy('x', chunked(images.subarray(0, 30), 4), 'x.npy'),
      'DATASET_INVALID',
      /x\.npy: array "x" ends after 30 bytes, inside its \.npy header/,
    );
  });

  test('rejects a file that is not .npy and reads it all', async () => {
    const notNpy = new TextEncoder().encode('x,y\n1,2\n3,4\n'.repeat(20));
    const { source, consumed } = countingSource(notNpy);
    let written = 0;
    const writer = new NpzWriter(async (chunk) => {
      written += chunk.length;
    });

    await assertRejects(writer.addNpy('x', source, 'x.csv'), 'DATASET_INVALID', /x\.csv: array "x" is not an \.npy array: expected the magic string/);
    assert.equal(consumed(), notNpy.length);
    assert.ok(written < 64, `wrote ${written} bytes of a rejected member`);
  });

  test('rejects a shape whose size overflows', async () => {
    const huge = buildNpy(npyHeader('<f8', [2 ** 40, 2 ** 20]), new Uint8Array(8));

    await assertRejects(new NpzWriter(async () => {}).addNpy('x', chunked(huge, 64), 'x.npy'), 'DATASET_INVALID', /declares shape \(1099511627776, 1048576\), which is too large to address/);
  });

  for (const name of ['../escape', '/absolute', 'C:\\windows', 'a/../../b']) {
    test(`rejects the array name ${name}`, async () => {
      await assertRejects(new NpzWriter(async () => {}).addNpy(name, chunked(images, 64), 'x.npy'), 'DATASET_INVALID', /cannot name an NPZ member/);
    });
  }

  test('rejects the same name twice', async () => {
    const writer = new NpzWriter(async () => {});
    await writer.addNpy('x', chunked(images, 64), 'a.npy');

    await assertRejects(writer.addNpy('x', chunked(images, 64), 'b.npy'), 'DATASET_INVALID', /Array "x" was added to the NPZ twice/);
  });
});

describe('packNpyFiles', () => {
  test('packs files from disk', async (t) => {
    const folder = await temporaryFolder(t);
    await writeFile(join(folder, 'images.npy'), images);
    await writeFile(join(folder, 'labels.npy'), labels);
    const destination = join(folder, 'packed.npz');

    const infos = await packNpyFiles(destination, [
      { name: 'x_test', path: join(folder, 'images.npy') },
      { name: 'y_test', path: join(folder, 'labels.npy') },
    ]);

    assert.deepEqual(
      infos.map((info) => info.name),
      ['x_test', 'y_test'],
    );
    assert.deepEqual(Array.from((await readNpz(destination)).get('y_test')?.data ?? []), [2, 0, 1]);
  });

  test('names the file at fault', async (t) => {
    const folder = await temporaryFolder(t);
    await writeFile(join(folder, 'labels.npy'), labels.subarray(0, labels.length - 8));

    await assertRejects(
      packNpyFiles(join(folder, 'packed.npz'), [{ name: 'y_test', path: join(folder, 'labels.npy') }]),
      'DATASET_INVALID',
      /^labels\.npy: array "y_test" has 16 bytes of values, but its header declares shape \(3\) of int64, which needs 24 bytes/,
    );
  });
});

describe('NpzWriter output in NumPy', { skip: pythonSkipReason() }, () => {
  test('loads with np.load', async (t) => {
    const path = await packToFile(t, [
      { name: 'x_train', bytes: images },
      { name: 'y_train', bytes: labels },
    ]);
    const script = 'import sys, json, numpy as np\nwith np.load(sys.argv[1]) as data:\n    print(json.dumps({n: data[n].tolist() for n in data.files}))\n';

    const { stdout } = await promisify(execFile)(venvPython, ['-c', script, path]);
    const loaded = JSON.parse(stdout) as Record<string, unknown>;

    assert.deepEqual(loaded.y_train, [2, 0, 1]);
    assert.deepEqual(loaded.x_train, [
      [
        [0, 20],
        [40, 60],
      ],
      [
        [80, 100],
        [120, 140],
      ],
      [
        [160, 180],
        [200, 220],
      ],
    ]);
  });
});
