import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';
import { unzipSync, zipSync } from 'fflate';

import { isCentroidError } from '@centroid/contracts';

import { inspectModelFile, readKerasArchive, readModel, readNpz, toLayersModel } from '../src/index.js';
import { patchDeclaredSize, writeTestZip } from './archive-helpers.js';
import { fixture, maxAbsoluteDifference, temporaryFolder } from './helpers.js';

import type { TestContext } from 'node:test';

async function predict(name: string): Promise<{ actual: Float32Array; expected: Float32Array }> {
  const file = await readKerasArchive(fixture(`${name}.keras`));
  const { model } = await toLayersModel(file);
  const io = await readNpz(fixture(`${name}.io.npz`));
  const x = io.get('x');
  const y = io.get('y');
  assert.ok(x !== undefined, `${name}.io.npz has no array x`);
  assert.ok(y !== undefined, `${name}.io.npz has no array y`);
  const input = tf.tensor(x.data as Float32Array, x.shape);
  const output = model.predict(input) as tf.Tensor;
  const actual = (await output.data()) as Float32Array;
  tf.dispose([input, output]);
  model.dispose();
  return { actual, expected: y.data as Float32Array };
}

/** Unpacks a fixture archive, lets `edit` change its members, and writes the result as a new archive. */
async function editedArchive(t: TestContext, edit: (members: Record<string, Uint8Array>) => void): Promise<string> {
  const members = unzipSync(new Uint8Array(await readFile(fixture('archive-convolutional.keras'))));
  edit(members);
  const path = join(await temporaryFolder(t), 'edited.keras');
  await writeTestZip(path, members);
  return path;
}

async function assertRejects(path: string, code: string, message: RegExp, options = {}): Promise<void> {
  await assert.rejects(readKerasArchive(path, 'upload.keras', options), (error) => {
    assert.ok(isCentroidError(error), String(error));
    assert.equal(error.code, code);
    assert.match(error.message, message);
    assert.equal(error.location.file, 'upload.keras');
    return true;
  });
}

describe('reading Keras 3 .keras archives', () => {
  for (const name of ['archive-recurrent', 'archive-convolutional', 'archive-embedding']) {
    test(`${name} predicts as Keras 3 does`, async () => {
      const { actual, expected } = await predict(name);
      assert.ok(maxAbsoluteDifference(actual, expected) < 1e-4, `max difference ${maxAbsoluteDifference(actual, expected)}`);
    });
  }

  test('float16 variables keep their dtype', async () => {
    const file = await readKerasArchive(fixture('archive-float16.keras'));
    assert.deepEqual(
      file.weights.map((weight) => weight.dtype),
      ['float16', 'float16', 'float16', 'float16'],
    );
    const { actual, expected } = await predict('archive-float16');
    // Keras computes these layers in float16 and TF.js in float32, so outputs near 1 differ by float16 rounding.
    assert.ok(maxAbsoluteDifference(actual, expected) < 5e-3, `max difference ${maxAbsoluteDifference(actual, expected)}`);
  });

  test('recurrent layers bind cell variables in order', async () => {
    const file = await readKerasArchive(fixture('archive-recurrent.keras'));
    const bidirectional = file.weights.filter((weight) => weight.layer === 'bi').map((weight) => weight.name);
    assert.deepEqual(bidirectional, [
      'forward_layer/cell/vars/0',
      'forward_layer/cell/vars/1',
      'forward_layer/cell/vars/2',
      'backward_layer/cell/vars/0',
      'backward_layer/cell/vars/1',
      'backward_layer/cell/vars/2',
    ]);
    const nested = file.weights.find((weight) => weight.layer === 'inner_dense');
    assert.deepEqual(nested?.layerPath, ['block', 'inner_dense']);
    assert.equal(nested?.datasetPath, '/layers/functional/layers/dense/vars/0');
  });

  test('compile config becomes the training config', async () => {
    const file = await readKerasArchive(fixture('archive-recurrent.keras'));
    assert.equal(file.format, 'keras');
    assert.equal(file.trainingConfig?.loss, 'sparse_categorical_crossentropy');
    assert.equal(file.trainingConfig?.optimizer_config?.class_name, 'Adam');
    assert.equal(file.hasOptimizerState, true);
    assert.match(file.kerasVersion ?? '', /^3\./);
  });

  test('uncompiled model has no training config', async () => {
    const file = await readKerasArchive(fixture('archive-convolutional.keras'));
    assert.equal(file.trainingConfig, null);
    assert.equal(file.hasOptimizerState, false);
  });
});

describe('rejecting bad .keras archives', () => {
  test('member with a parent segment', async (t) => {
    const path = await editedArchive(t, (members) => {
      members['../escape.txt'] = new Uint8Array([1]);
    });
    await assertRejects(path, 'MODEL_INVALID', /"\.\.\/escape\.txt".*"\.\." segment/);
  });

  // The same member-name check as for NPZ datasets, with the same reasons.
  for (const [name, reason] of [
    ['data/../../escape.txt', 'the name contains a ".." segment'],
    ['..\\escape.txt', 'the name contains a ".." segment'],
    ['/etc/escape.txt', 'the name is an absolute path'],
    ['\\\\server\\share\\escape.txt', 'the name is an absolute path'],
    ['C:/escape.txt', 'the name is an absolute path'],
    ['escape\u0000.txt', 'the name contains a NUL character'],
  ]) {
    test(`member named ${JSON.stringify(name)}`, async (t) => {
      const path = await editedArchive(t, (members) => {
        members[name as string] = new Uint8Array([1]);
      });
      await assertRejects(path, 'MODEL_INVALID', new RegExp(`is rejected because ${(reason as string).replace(/[.]/g, '\\.')}\\.`));
    });
  }

  test('member with an absolute path', async (t) => {
    const path = await editedArchive(t, (members) => {
      members['/etc/passwd'] = new Uint8Array([1]);
    });
    await assertRejects(path, 'MODEL_INVALID', /absolute path/);
  });

  test('missing model.weights.h5', async (t) => {
    const path = await editedArchive(t, (members) => {
      delete members['model.weights.h5'];
    });
    await assertRejects(path, 'MODEL_INVALID', /expected a Keras 3 \.keras archive with members config\.json and model\.weights\.h5/);
  });

  test('config.json that is not JSON', async (t) => {
    const path = await editedArchive(t, (members) => {
      members['config.json'] = new TextEncoder().encode('{"class_name": "Sequential",');
    });
    await assertRejects(path, 'MODEL_INVALID', /config\.json is not valid UTF-8 JSON/);
  });

  test('config.json above the JSON size limit', async (t) => {
    const path = join(await temporaryFolder(t), 'huge.keras');
    const huge = new Uint8Array(65 * 1024 * 1024).fill(0x20);
    await writeFile(path, zipSync({ 'config.json': [huge, { level: 9 }], 'model.weights.h5': [new Uint8Array(8), { level: 0 }] }));
    await assertRejects(path, 'MODEL_INVALID', /config\.json declares 68157440 bytes uncompressed, more than the limit/);
  });

  test('archive above the expansion cap', async () => {
    await assertRejects(fixture('archive-convolutional.keras'), 'MODEL_INVALID', /more than the limit of 1000 bytes/, {
      maxExpandedBytes: 1000,
    });
  });

  test('member that expands past its declared size', async (t) => {
    const bytes = zipSync({ 'config.json': [new Uint8Array(5000).fill(0x20), { level: 9 }], 'model.weights.h5': [new Uint8Array(8), { level: 0 }] });
    const path = join(await temporaryFolder(t), 'lying.keras');
    await writeFile(path, patchDeclaredSize(bytes, 'config.json', 100));
    await assertRejects(path, 'MODEL_INVALID', /"config\.json" expands past its declared 100 bytes/);
  });

  test('truncated archive', async (t) => {
    const bytes = await readFile(fixture('archive-convolutional.keras'));
    const path = join(await temporaryFolder(t), 'truncated.keras');
    await writeFile(path, bytes.subarray(0, bytes.length - 400));
    await assertRejects(path, 'MODEL_INVALID', /is not a valid Keras 3 \.keras archive: no end-of-central-directory record/);
  });

  test('weights file whose layers do not fit the config', async (t) => {
    const other = unzipSync(new Uint8Array(await readFile(fixture('archive-embedding.keras'))));
    const path = await editedArchive(t, (members) => {
      members['model.weights.h5'] = other['model.weights.h5'] as Uint8Array;
    });
    await assertRejects(path, 'MODEL_WEIGHTS_MISMATCH', /no group \/layers\/conv2d for layer "conv"/);
  });
});

describe('unknown layer classes in .keras archives', () => {
  /** Renames the classes of the layers named in `classes`, so that their weights groups no longer match. */
  function renameClasses(classes: Record<string, string>): (members: Record<string, Uint8Array>) => void {
    return (members) => {
      const config = JSON.parse(new TextDecoder().decode(members['config.json'])) as { config: { layers: { class_name: string; config: { name: string } }[] } };
      for (const layer of config.config.layers) {
        const renamed = classes[layer.config.name];
        if (renamed !== undefined) layer.class_name = renamed;
      }
      members['config.json'] = new TextEncoder().encode(JSON.stringify(config));
    };
  }

  const readers = {
    readModel: (path: string) => readModel(path, 'upload.keras'),
    inspectModelFile: (path: string) => inspectModelFile(path, 'upload.keras'),
  };

  for (const [readerName, read] of Object.entries(readers)) {
    test(`${readerName} names every unknown class`, async (t) => {
      const path = await editedArchive(t, renameClasses({ conv: 'WeirdLayer', dense_second: 'OtherLayer' }));
      await assert.rejects(read(path), (error) => {
        assert.ok(isCentroidError(error), String(error));
        assert.equal(error.code, 'MODEL_LAYER_UNSUPPORTED');
        assert.equal(
          error.message,
          'upload.keras: 2 layer(s) cannot be built in TF.js: layer "conv" (WeirdLayer): TF.js has no layer of this class; ' +
            'layer "dense_second" (OtherLayer): TF.js has no layer of this class.',
        );
        assert.equal(error.location.file, 'upload.keras');
        assert.equal(error.location.layer, 'conv');
        assert.ok(isCentroidError(error.cause), 'the weights mismatch is kept as the cause');
        assert.equal(error.cause.code, 'MODEL_WEIGHTS_MISMATCH');
        return true;
      });
    });

    test(`${readerName} keeps a mismatch of known classes`, async (t) => {
      // Conv2D and Dense are both known, so the missing group is a real mismatch.
      const path = await editedArchive(t, renameClasses({ conv: 'Dense' }));
      await assert.rejects(read(path), (error) => {
        assert.ok(isCentroidError(error), String(error));
        assert.equal(error.code, 'MODEL_WEIGHTS_MISMATCH');
        return true;
      });
    });
  }
});
