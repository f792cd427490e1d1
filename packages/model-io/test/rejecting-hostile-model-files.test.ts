import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { unzipSync } from 'fflate';

import { isCentroidError } from '@centroid/contracts';

import { loadH5wasm, openH5File, readMemfsFile, removeMemfsFile, writeIntoMemfs } from '../src/hdf5/h5wasm.js';
import { detectModelFormat, inspectModelFile, readKerasArchive, readKerasH5, readModel, readTfjsModel, toLayersModel } from '../src/index.js';
import { SMALL_READ_CHUNK_BYTES } from '../src/zip.js';
import { buildZip, deflateThenCorrupt } from './archive-builders.js';
import { fixture, temporaryFolder } from './helpers.js';

import type { TestContext } from 'node:test';
import type { ErrorCode } from '@centroid/contracts';
import type { H5File } from '../src/hdf5/h5wasm.js';

async function assertRejects(promise: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<Error> {
  let rejection: Error | null = null;
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isCentroidError(error), `expected a CentroidError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    rejection = error;
    return true;
  });
  return rejection as unknown as Error;
}

/** Writes a copy of a fixture to a temporary file after `edit` has changed it with h5wasm. */
async function editedCopy(t: TestContext, fixtureName: string, name: string, edit: (file: H5File) => void): Promise<string> {
  await loadH5wasm();
  const memfsPath = await writeIntoMemfs(await readFile(fixture(fixtureName)));
  try {
    const file = openH5File(memfsPath, 'a');
    edit(file);
    file.close();
    const path = join(await temporaryFolder(t), name);
    await writeFile(path, readMemfsFile(memfsPath));
    return path;
  } finally {
    removeMemfsFile(memfsPath);
  }
}

function replaceAttribute(file: H5File, name: string, value: string | string[]): void {
  file.delete_attribute(name);
  file.create_attribute(name, value);
}

/** Reads the file with both loaders and checks that each rejects it with `code` and `pattern`. */
async function assertBothLoadersReject(path: string, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assertRejects(inspectModelFile(path), code, pattern);
  await assertRejects(
    readKerasH5(path).then((file) => toLayersModel(file)),
    code,
    pattern,
  );
}

describe('hostile Keras configs', () => {
  test('rejects a 50 MB config of nested lists', async (t) => {
    const row = `[${new Array(1000).fill('0.125').join(',')}]`;
    const rows = new Array(Math.ceil(50e6 / row.length)).fill(row).join(',');
    const config = `{"class_name": "Sequential", "config": {"name": "huge", "layers": [${rows}]}}`;
    const path = await editedCopy(t, 'small.h5', 'huge-config.h5', (file) => replaceAttribute(file, 'model_config', config));

    await assertBothLoadersReject(path, 'MODEL_INVALID', /^huge-config\.h5: the model_config attribute is \d{8} characters long, more than the limit of 16777216/);
  });

  test('rejects a config of deeply nested lists', async (t) => {
    const depth = 200_000;
    const config = `{"class_name": "Sequential", "config": {"layers": ${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    const path = await editedCopy(t, 'small.h5', 'deep-lists.h5', (file) => replaceAttribute(file, 'model_config', config));

    await assertBothLoadersReject(path, 'MODEL_INVALID', /^deep-lists\.h5: the model_config attribute nests JSON arrays and objects more than 512 levels deep/);
  });

  test('rejects a config of deeply nested objects', async (t) => {
    const depth = 200_000;
    const config = `{"class_name": "Sequential", "config": ${'{"a": '.repeat(depth)}1${'}'.repeat(depth)}}`;
    const path = await editedCopy(t, 'small.h5', 'deep-objects.h5', (file) => replaceAttribute(file, 'model_config', config));

    await assertBothLoadersReject(path, 'MODEL_INVALID', /nests JSON arrays and objects more than 512 levels deep/);
  });

  test('rejects a deeply nested training config', async (t) => {
    const config = `{"loss": ${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    const path = await editedCopy(t, 'dense-adam.h5', 'deep-training.h5', (file) => replaceAttribute(file, 'training_config', config));

    await assertRejects(readKerasH5(path), 'MODEL_INVALID', /^deep-training\.h5: the training_config attribute nests JSON arrays and objects more than 512 levels deep/);
  });

  test('accepts brackets inside config strings', async (t) => {
    const original = await readKerasH5(fixture('small.h5'));
    const config = structuredClone(original.modelConfig);
    (config.config as Record<string, unknown>).name = '['.repeat(2000);
    const path = await editedCopy(t, 'small.h5', 'brackets.h5', (file) => replaceAttribute(file, 'model_config', JSON.stringify(config)));

    const read = await readKerasH5(path);
    assert.equal((read.modelConfig.config as Record<string, unknown>).name, '['.repeat(2000));
  });

  test('shortens a long TF.js error', async (t) => {
    // 2 MB of lists in place of layers: under the size limit, but TF.js quotes them in its error.
    const row = `[${new Array(1000).fill('0.125').join(',')}]`;
    const config = `{"class_name": "Sequential", "config": {"name": "lists", "layers": [${new Array(350).fill(row).join(',')}]}}`;
    const path = await editedCopy(t, 'small.h5', 'lists.h5', (file) => replaceAttribute(file, 'model_config', config));

    const error = await assertRejects(
      readKerasH5(path).then((file) => toLayersModel(file)),
      'MODEL_LAYER_UNSUPPORTED',
      /^lists\.h5: TF\.js could not build the model from its model_config: /,
    );
    assert.ok(error.message.length < 1000, `the message has ${error.message.length} characters`);
  });

  test('rejects a config that is not JSON', async (t) => {
    const path = await editedCopy(t, 'small.h5', 'not-json.h5', (file) => replaceAttribute(file, 'model_config', "{'class_name': 'Sequential'}"));

    await assertBothLoadersReject(path, 'MODEL_INVALID', /^not-json\.h5: the model_config attribute is not valid JSON/);
  });
});

describe('hostile Keras weights', () => {
  test('rejects weight shapes unlike the config', async (t) => {
    // small.h5 is Input(3) -> Dense(2), so its kernel is 3×2; the edit points the layer at a 4×2 kernel.
    const path = await editedCopy(t, 'small.h5', 'wrong-shape.h5', (file) => {
      const group = file.get('/model_weights/dense/dense');
      assert.ok(group !== null);
      assert.ok('create_dataset' in group);
      group.create_dataset({ name: 'wrong:0', data: new Float32Array(8), shape: [4, 2], dtype: '<f' });
      const layer = file.get('/model_weights/dense');
      assert.ok(layer !== null);
      assert.ok('attrs' in layer);
      layer.delete_attribute('weight_names');
      layer.create_attribute('weight_names', ['dense/wrong:0', 'dense/bias:0']);
    });

    const file = await readKerasH5(path);
    await assertRejects(
      toLayersModel(file),
      'MODEL_WEIGHTS_MISMATCH',
      /^wrong-shape\.h5: weight "dense\/wrong:0" of layer "dense" should have shape \[3, 2\] according to the model config, but the file has shape \[4, 2\]/,
    );
  });

  test('reads no file an external link names', async (t) => {
    // A host file beside the upload contains a kernel of the right shape, and the upload links
    // its kernel to it. h5wasm opens only the copy in its in-memory file system, so the link dangles.
    const folder = await temporaryFolder(t);
    const outside = join(folder, 'outside.h5');
    await loadH5wasm();
    const outsideMemfs = await writeIntoMemfs(new Uint8Array(0));
    try {
      const file = openH5File(outsideMemfs, 'w');
      file.create_dataset({ name: 'kernel', data: new Float32Array(6).fill(42), shape: [3, 2], dtype: '<f' });
      file.close();
      await writeFile(outside, readMemfsFile(outsideMemfs));
    } finally {
      removeMemfsFile(outsideMemfs);
    }
    const path = await editedCopy(t, 'small.h5', 'linked.h5', (file) => {
      const group = file.get('/model_weights/dense/dense');
      assert.ok(group !== null);
      assert.ok('create_external_link' in group);
      group.create_external_link(outside, '/kernel', 'linked:0');
      const layer = file.get('/model_weights/dense');
      assert.ok(layer !== null);
      assert.ok('attrs' in layer);
      layer.delete_attribute('weight_names');
      layer.create_attribute('weight_names', ['dense/linked:0', 'dense/bias:0']);
    });

    await assertRejects(readKerasH5(path), 'MODEL_INVALID', /^linked\.h5: layer "dense" lists weight "dense\/linked:0", but there is no dataset at \/model_weights\/dense\/dense\/linked:0/);
  });

  test('rejects a file h5wasm cannot open', async (t) => {
    // A valid signature and superblock version, then noise where the root group address should be.
    const bytes = await readFile(fixture('small.h5'));
    bytes.fill(0xff, 8 + 16, 8 + 64);
    const path = join(await temporaryFolder(t), 'noise.h5');
    await writeFile(path, bytes);

    await assertBothLoadersReject(path, 'MODEL_INVALID', /^noise\.h5 has an HDF5 signature but could not be read as HDF5/);
  });
});

const formatsFixture = (path: string) => fileURLToPath(new URL(`../../examples/fixtures/formats/${path}`, import.meta.url));

/** Inserts a key whose value is `depth` nested empty lists in front of the first "kernel_initializer" key. */
function nestDeeply(json: string, depth: number): string {
  const at = json.indexOf('"kernel_initializer"');
  assert.ok(at > 0, 'the config has no kernel_initializer');
  return `${json.slice(0, at)}"deep": ${'['.repeat(depth)}${']'.repeat(depth)}, ${json.slice(at)}`;
}

describe('hostile archive configs', () => {
  test('rejects a deeply nested TF.js model.json', async (t) => {
    // Found while extending the size checks: TF.js configs reached the recursive config
    // translation unchecked, and the stack overflow escaped as a RangeError.
    const folder = join(await temporaryFolder(t), 'deep.tfjs');
    await mkdir(folder);
    const source = formatsFixture('keras2/branches.tfjs');
    for (const name of await readdir(source)) {
      const bytes = await readFile(join(source, name));
      await writeFile(join(folder, name), name === 'model.json' ? nestDeeply(bytes.toString('utf8'), 100_000) : bytes);
    }

    await assertRejects(readTfjsModel(join(folder, 'model.json')), 'MODEL_INVALID', /model\.json nests JSON arrays and objects more than 512 levels deep/);
    await assertRejects(inspectModelFile(join(folder, 'model.json')), 'MODEL_INVALID', /model\.json nests JSON arrays and objects more than 512 levels deep/);
  });

  test('rejects a deeply nested .keras config', async (t) => {
    const members = unzipSync(await readFile(formatsFixture('keras3/branches.keras')));
    const config = members['config.json'];
    assert.ok(config !== undefined, 'branches.keras has no config.json');
    members['config.json'] = Buffer.from(nestDeeply(Buffer.from(config).toString('utf8'), 100_000));
    const path = join(await temporaryFolder(t), 'deep.keras');
    await writeFile(path, buildZip(Object.entries(members).map(([name, data]) => ({ name, data, method: 8 as const }))));

    await assertRejects(readKerasArchive(path), 'MODEL_INVALID', /^deep\.keras: config\.json nests JSON arrays and objects more than 512 levels deep/);
    await assertRejects(inspectModelFile(path), 'MODEL_INVALID', /^deep\.keras: config\.json nests JSON arrays and objects more than 512 levels deep/);
  });

  test('builds a TF.js model whose config nests 100 levels', async (t) => {
    const folder = join(await temporaryFolder(t), 'nested.tfjs');
    await mkdir(folder);
    const source = formatsFixture('keras2/branches.tfjs');
    for (const name of await readdir(source)) {
      const bytes = await readFile(join(source, name));
      await writeFile(join(folder, name), name === 'model.json' ? nestDeeply(bytes.toString('utf8'), 100) : bytes);
    }

    const { model } = await toLayersModel(await readTfjsModel(join(folder, 'model.json')));
    assert.ok(model.layers.length > 0);
    model.dispose();
  });
});

/**
 * Writes branches.keras with its config.json replaced by `deflated`, a deflate stream
 * whose zip headers declare `declaredSize` bytes uncompressed.
 */
async function kerasWithDeflatedConfig(t: TestContext, name: string, deflated: Uint8Array, declaredSize: number): Promise<string> {
  const members = unzipSync(await readFile(formatsFixture('keras3/branches.keras')));
  const path = join(await temporaryFolder(t), name);
  const zipMembers = Object.entries(members).map(([member, data]) =>
    member === 'config.json' ? { name: member, data, method: 8 as const, deflated, declaredSize, crc: 0 } : { name: member, data, method: 8 as const },
  );
  await writeFile(path, buildZip(zipMembers));
  return path;
}

describe('.keras compression bombs', () => {
  test('rejects a config.json bomb before inflating it', async (t) => {
    // The config declares 400 MB, but its deflate stream is invalid from the first
    // block on, so any attempt to inflate it fails with a corrupt-data error instead
    // of the size error. 400 000 compressed bytes can honestly encode 400 MB.
    const declaredSize = 400_000_000;
    const path = await kerasWithDeflatedConfig(t, 'bomb.keras', deflateThenCorrupt(new Uint8Array(0), 400_000), declaredSize);
    const expected = /^bomb\.keras: config\.json declares 400000000 bytes uncompressed, more than the limit of 67108864 bytes for a JSON member\.$/;

    await assertRejects(detectModelFormat(path), 'MODEL_INVALID', expected);
    await assertRejects(readModel(path), 'MODEL_INVALID', expected);
    await assertRejects(inspectModelFile(path), 'MODEL_INVALID', expected);
    await assertRejects(readKerasArchive(path), 'MODEL_INVALID', expected);
  });

  test('stops inflating a lying config.json after one read step', async (t) => {
    // 8 MiB of zeros deflate to about 8 KiB, more than the first read step of a member
    // that declares 1000 bytes. The invalid bytes after them are reached only by a
    // reader that goes on inflating after the member has passed its declared size.
    const deflated = deflateThenCorrupt(new Uint8Array(8 * 1024 * 1024), 1024);
    assert.ok(deflated.length - 1024 > SMALL_READ_CHUNK_BYTES, `the valid part is only ${deflated.length - 1024} bytes`);
    const path = await kerasWithDeflatedConfig(t, 'lying.keras', deflated, 1000);

    await assertRejects(readKerasArchive(path), 'MODEL_INVALID', /^lying\.keras is not a valid Keras 3 \.keras archive: member "config\.json" expands past its declared 1000 bytes/);
  });
});
