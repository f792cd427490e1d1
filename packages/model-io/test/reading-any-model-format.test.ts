import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { isCentroidError } from '@centroid/contracts';

import { detectModelFormat, outputFormatProblem, readKerasArchive, readModel, writeModel, writeTfjsModel } from '../src/index.js';
import { fixture, temporaryFolder } from './helpers.js';

async function assertRejects(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error) => {
    assert.ok(isCentroidError(error), String(error));
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

describe('detecting the model format', () => {
  test('each supported format', async (t) => {
    const folder = await temporaryFolder(t);
    const tfjsZip = join(folder, 'model.tfjs.zip');
    await writeTfjsModel(await readKerasArchive(fixture('archive-float16.keras')), tfjsZip, new Map());
    await mkdir(join(folder, 'empty-folder'));

    assert.equal(await detectModelFormat(fixture('small.h5')), 'keras_h5');
    assert.equal(await detectModelFormat(fixture('userblock.h5')), 'keras_h5');
    assert.equal(await detectModelFormat(fixture('archive-recurrent.keras')), 'keras');
    assert.equal(await detectModelFormat(tfjsZip), 'tfjs');
    assert.equal(await detectModelFormat(join(folder, 'empty-folder')), 'tfjs');
  });

  test('zip of something else', async () => {
    await assertRejects(detectModelFormat(fixture('arrays-stored.npz'), 'data.npz'), 'MODEL_FORMAT_UNSUPPORTED', /data\.npz is a zip archive but neither.*"uint8\.npy"/);
  });

  test('NPZ given as a model', async () => {
    await assertRejects(detectModelFormat(fixture('arrays-stored.npz'), 'data.npz'), 'MODEL_FORMAT_UNSUPPORTED', /looks like an NPZ dataset: send it as the dataset/);
  });

  test('text file', async (t) => {
    const path = join(await temporaryFolder(t), 'notes.txt');
    await writeFile(path, 'not a model\n');
    await assertRejects(detectModelFormat(path), 'MODEL_FORMAT_UNSUPPORTED', /notes\.txt is not a model file.*It looks like a text file/);
  });

  test('empty file', async (t) => {
    const path = join(await temporaryFolder(t), 'empty.h5');
    await writeFile(path, '');
    await assertRejects(detectModelFormat(path), 'MODEL_INVALID', /empty\.h5 is empty/);
  });

  test('readModel returns the detected format', async () => {
    assert.equal((await readModel(fixture('small.h5'))).format, 'keras_h5');
    assert.equal((await readModel(fixture('archive-embedding.keras'))).format, 'keras');
  });
});

describe('choosing the output format', () => {
  test('conversion into .keras is written', async (t) => {
    const source = await readModel(fixture('small.h5'));
    const outPath = join(await temporaryFolder(t), 'model.keras');
    await writeModel(source, 'keras', outPath, new Map());
    const written = await readModel(outPath);
    assert.equal(written.format, 'keras');
    assert.equal(written.weights.length, source.weights.length);
  });

  test('outputFormatProblem accepts every dtype', () => {
    const formats = ['keras_h5', 'keras', 'tfjs'] as const;
    for (const source of formats) {
      for (const format of formats) {
        for (const dtype of ['float16', 'float32', 'float64']) {
          assert.equal(outputFormatProblem(source, format, [{ dtype }]), null, `${source} to ${format} with ${dtype} weights`);
        }
      }
    }
    assert.equal(outputFormatProblem('tfjs', 'keras', []), null);
  });

  test('same format and tfjs are written', async (t) => {
    const folder = await temporaryFolder(t);
    const source = await readModel(fixture('small.h5'));
    await writeModel(source, 'keras_h5', join(folder, 'model.h5'), new Map());
    await writeModel(source, 'tfjs', join(folder, 'model.tfjs.zip'), new Map());
    assert.equal((await readModel(join(folder, 'model.h5'))).format, 'keras_h5');
    assert.equal((await readModel(join(folder, 'model.tfjs.zip'))).format, 'tfjs');
  });
});
