import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { isCentroidError } from '@centroid/contracts';

import { readNpy, readNpz, readNpzArrayNames } from '../src/index.js';
import { buildNpy, buildZip, bytesOf, npyHeader } from './archive-builders.js';
import { temporaryFolder } from './helpers.js';

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

async function writeTemporary(t: TestContext, name: string, bytes: Uint8Array): Promise<string> {
  const path = join(await temporaryFolder(t), name);
  await writeFile(path, bytes);
  return path;
}

const floats = buildNpy(npyHeader('<f4', [3]), bytesOf(new Float32Array([1, 2, 3])));

describe('hostile NPZ member names', () => {
  const cases: [string, RegExp][] = [
    ['../x_train.npy', /member "\.\.\/x_train\.npy" has an unsafe name: the name contains a "\.\." segment/],
    ['data/../../x_train.npy', /the name contains a "\.\." segment/],
    ['..\\x_train.npy', /the name contains a "\.\." segment/],
    ['/etc/x_train.npy', /member "\/etc\/x_train\.npy" has an unsafe name: the name is an absolute path/],
    ['\\\\server\\share\\x.npy', /the name is an absolute path/],
    ['C:/x_train.npy', /the name is an absolute path/],
    ['x\u0000.npy', /the name contains a NUL character/],
  ];

  for (const [name, pattern] of cases) {
    test(`rejects ${JSON.stringify(name)} in readNpz`, async (t) => {
      const path = await writeTemporary(t, 'unsafe.npz', buildZip([{ name, data: floats, method: 0 }]));

      await assertRejects(readNpz(path), 'DATASET_INVALID', pattern);
    });
  }

  test('rejects an unsafe name beside safe arrays', async (t) => {
    const path = await writeTemporary(
      t,
      'mixed.npz',
      buildZip([
        { name: 'x_test.npy', data: floats, method: 8 },
        { name: '../notes.txt', data: new Uint8Array(4), method: 0 },
      ]),
    );

    await assertRejects(readNpzArrayNames(path), 'DATASET_INVALID', /^mixed\.npz is not a valid NPZ \(zip\) archive: member "\.\.\/notes\.txt" has an unsafe name/);
  });

  test('accepts a member in a subfolder', async (t) => {
    const path = await writeTemporary(t, 'nested.npz', buildZip([{ name: 'data/x_test.npy', data: floats, method: 0 }]));

    assert.deepEqual([...(await readNpz(path)).keys()], ['data/x_test']);
  });
});

describe('hostile NPY headers', () => {
  test('rejects a shape whose byte size overflows', async () => {
    await assertRejects(
      readNpy(buildNpy(npyHeader('<f8', [2 ** 31, 2 ** 31, 2 ** 31]), new Uint8Array(8)), { filename: 'x.npy', name: 'x' }),
      'DATASET_INVALID',
      /x\.npy: array "x" declares shape \(2147483648, 2147483648, 2147483648\), which is too large to address/,
    );
  });

  test('rejects a dimension beyond 2^53', async () => {
    await assertRejects(
      readNpy(buildNpy(npyHeader('<f4', [Number.MAX_SAFE_INTEGER + 2]), new Uint8Array(4))),
      'DATASET_INVALID',
      /has shape \[9007199254740992\]; expected a tuple of non-negative integers/,
    );
  });

  test('rejects a header that claims more data', async () => {
    await assertRejects(
      readNpy(buildNpy(npyHeader('<f4', [1_000_000_000]), new Uint8Array(12))),
      'DATASET_INVALID',
      /has 12 bytes of values, but its header declares shape \(1000000000\) of float32, which needs 4000000000 bytes/,
    );
  });

  test('rejects a member header that claims more data', async (t) => {
    // The zip directory agrees with the 3 values present; the .npy header claims a billion.
    const lying = buildNpy(npyHeader('<f4', [1_000_000_000]), bytesOf(new Float32Array([1, 2, 3])));
    const path = await writeTemporary(t, 'lying.npz', buildZip([{ name: 'x.npy', data: lying, method: 8 }]));

    await assertRejects(readNpz(path), 'DATASET_INVALID', /array "x" declares \d+ bytes in the zip directory, but its \.npy header \(shape \(1000000000\) of float32\) needs 4000000128 bytes/);
    await assertRejects(readNpzArrayNames(path), 'DATASET_INVALID', /needs 4000000128 bytes/);
  });

  test('rejects a shape nested in a tuple', async () => {
    await assertRejects(
      readNpy(buildNpy(`{'descr': '<f4', 'fortran_order': False, 'shape': ((3,),), }`, new Uint8Array(12))),
      'DATASET_INVALID',
      /has shape \[\[3\]\]; expected a tuple of non-negative integers/,
    );
  });
});

describe('compression bombs', () => {
  test('rejects expansion past the cap', async (t) => {
    // 4 MiB of zeros deflate to a few KB; the cap is 1 MiB.
    const zeros = buildNpy(npyHeader('<f4', [1024 * 1024]), new Uint8Array(4 * 1024 * 1024));
    const path = await writeTemporary(t, 'bomb.npz', buildZip([{ name: 'x.npy', data: zeros, method: 8 }]));

    await assertRejects(readNpz(path, { maxExpandedBytes: 1024 * 1024 }), 'DATASET_INVALID', /^bomb\.npz expands to 4194432 bytes, more than the limit of 1048576 bytes\.$/);
  });

  test('counts every member against the cap', async (t) => {
    const zeros = buildNpy(npyHeader('<f4', [200_000]), new Uint8Array(800_000));
    const members = ['a', 'b', 'c'].map((name) => ({ name: `${name}.npy`, data: zeros, method: 8 as const }));
    const path = await writeTemporary(t, 'bombs.npz', buildZip(members));

    await assertRejects(readNpz(path, { maxExpandedBytes: 2_000_000 }), 'DATASET_INVALID', /bombs\.npz expands to 2400384 bytes, more than the limit of 2000000 bytes/);
    assert.equal((await readNpz(path, { maxExpandedBytes: 2_000_000, arrays: ['a', 'b'] })).size, 2);
  });
});

describe('fuzz regressions', () => {
  test('reports a bad header in a deflated member', async (t) => {
    // Found by fuzzing: the header error raised while inflating was reported as corrupt deflate data.
    const member = buildNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }x", bytesOf(new Float32Array(3)));
    const path = await writeTemporary(t, 'header.npz', buildZip([{ name: 'a.npy', data: member, method: 8 }]));

    await assertRejects(readNpz(path), 'DATASET_INVALID', /^header\.npz: array "a" has an unreadable \.npy header \(unexpected text after the dict at offset \d+\)/);
    await assertRejects(readNpzArrayNames(path), 'DATASET_INVALID', /^header\.npz: array "a" has an unreadable \.npy header/);
  });
});
