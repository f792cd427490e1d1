import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { constants, gunzipSync, gzipSync } from 'node:zlib';

import { gzipFile, measureFile } from '../src/index.js';
import { fixture, temporaryFolder } from './helpers.js';

describe('measureFile', () => {
  test('reports bytes and gzip bytes', async () => {
    const path = fixture('functional-cnn.h5');
    const bytes = await readFile(path);
    const size = await measureFile(path);

    assert.equal(size.bytes, bytes.length);
    assert.equal(size.gzipBytes, gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION }).length);
    assert.ok(size.gzipBytes < size.bytes);
  });

  test('measures an empty file', async (t) => {
    const path = join(await temporaryFolder(t), 'empty');
    await writeFile(path, new Uint8Array(0));
    const size = await measureFile(path);

    assert.equal(size.bytes, 0);
    assert.equal(size.gzipBytes, gzipSync(new Uint8Array(0), { level: 9 }).length);
  });

  test('streams a file larger than a chunk', async (t) => {
    const path = join(await temporaryFolder(t), 'large.bin');
    const data = Buffer.alloc(3 * 1024 * 1024);
    for (let index = 0; index < data.length; index++) {
      data[index] = (index * 7919) % 251;
    }
    await writeFile(path, data);
    const size = await measureFile(path);

    assert.equal(size.bytes, data.length);
    assert.equal(size.gzipBytes, gzipSync(data, { level: 9 }).length);
  });
});

describe('gzipFile', () => {
  test('writes a level 9 gzip', async (t) => {
    const folder = await temporaryFolder(t);
    const source = fixture('dense-adam.h5');
    const destination = join(folder, 'dense-adam.h5.gz');
    await gzipFile(source, destination);

    const compressed = await readFile(destination);
    assert.ok(gunzipSync(compressed).equals(await readFile(source)));
    assert.equal(compressed.length, (await measureFile(source)).gzipBytes);
    assert.deepEqual(await readdir(folder), ['dense-adam.h5.gz'], 'a temporary file was left behind');
  });

  test('leaves nothing when the source is missing', async (t) => {
    const folder = await temporaryFolder(t);
    const destination = join(folder, 'out.gz');

    await assert.rejects(gzipFile(join(folder, 'missing.h5'), destination), { code: 'ENOENT' });
    assert.equal(existsSync(destination), false);
    assert.deepEqual(await readdir(folder), []);
  });

  test('replaces an existing destination', async (t) => {
    const folder = await temporaryFolder(t);
    const destination = join(folder, 'out.gz');
    await writeFile(destination, 'old');
    await gzipFile(fixture('small.h5'), destination);

    assert.equal((await stat(destination)).size, (await measureFile(fixture('small.h5'))).gzipBytes);
  });
});
