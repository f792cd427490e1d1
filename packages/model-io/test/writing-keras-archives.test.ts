import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { isCentroidError } from '@centroid/contracts';

import { readKerasArchive, readNpy, readNpz, toLayersModel, writeKerasArchive } from '../src/index.js';
import { readTestZip, zipMethods } from './archive-helpers.js';
import { fixture, maxAbsoluteDifference, pythonSkipReason, runPython, snapshotHdf5, temporaryFolder } from './helpers.js';

import type { TestContext } from 'node:test';
import type { KerasArchiveFile } from '../src/index.js';

/** Stands in for clustering: rounds every value to the nearest multiple of `step`, so each tensor changes. */
function quantise(values: Float32Array, step = 0.125): Float32Array {
  return values.map((value) => Math.round(value / step) * step);
}

/** Replaces the first variable of every layer that has two or more, which is its kernel in these fixtures. */
function replaceKernels(file: KerasArchiveFile): Map<string, Float32Array> {
  return new Map(
    file.weights.filter((weight) => /vars\/0$/.test(weight.datasetPath) && weight.shape.length >= 2).map((weight) => [weight.datasetPath, quantise(weight.values)]),
  );
}

async function writeClustered(t: TestContext, name: string) {
  const source = await readKerasArchive(fixture(`${name}.keras`));
  const replacements = replaceKernels(source);
  assert.ok(replacements.size > 0, `${name} has no kernel to replace`);
  const folder = await temporaryFolder(t);
  const outPath = join(folder, `${name}.keras`);
  const { warnings } = await writeKerasArchive(source, outPath, replacements);
  return { source, outPath, replacements, warnings, folder };
}

async function extractWeights(archivePath: string, folder: string, name: string): Promise<string> {
  const members = await readTestZip(archivePath);
  const path = join(folder, name);
  await writeFile(path, members['model.weights.h5'] as Uint8Array);
  return path;
}

describe('writing Keras 3 .keras archives', () => {
  test('replaced variables take the new values', async (t) => {
    const { outPath, replacements } = await writeClustered(t, 'archive-recurrent');
    const written = await readKerasArchive(outPath);
    for (const weight of written.weights) {
      const expected = replacements.get(weight.datasetPath);
      if (expected !== undefined) {
        assert.deepEqual(Array.from(weight.values), Array.from(expected), weight.datasetPath);
      }
    }
  });

  test('other datasets stay byte-identical', async (t) => {
    const { source, outPath, replacements, folder } = await writeClustered(t, 'archive-recurrent');
    const before = await snapshotHdf5(await extractWeights(source.path, folder, 'before.h5'));
    const after = await snapshotHdf5(await extractWeights(outPath, folder, 'after.h5'));
    assert.deepEqual([...after.datasets.keys()].sort(), [...before.datasets.keys()].sort());
    assert.deepEqual(after.attributes, before.attributes);
    let compared = 0;
    for (const [path, bytes] of before.datasets) {
      if (replacements.has(path)) {
        continue;
      }
      assert.ok(Buffer.from(bytes).equals(Buffer.from(after.datasets.get(path) as Uint8Array)), `${path} changed`);
      compared++;
    }
    assert.ok(compared > 10, `only ${compared} datasets compared`);
  });

  test('other members keep content and method', async (t) => {
    const { source, outPath } = await writeClustered(t, 'archive-convolutional');
    const before = await readTestZip(source.path);
    const after = await readTestZip(outPath);
    assert.deepEqual(Object.keys(after), Object.keys(before));
    for (const name of ['config.json', 'metadata.json']) {
      assert.ok(Buffer.from(before[name] as Uint8Array).equals(Buffer.from(after[name] as Uint8Array)), `${name} changed`);
    }
    assert.deepEqual(await zipMethods(outPath), await zipMethods(source.path));
  });

  test('float16 variables stay float16', async (t) => {
    const { outPath } = await writeClustered(t, 'archive-float16');
    const written = await readKerasArchive(outPath);
    assert.deepEqual(
      written.weights.map((weight) => weight.dtype),
      ['float16', 'float16', 'float16', 'float16'],
    );
  });

  test('optimizer variables are kept with a warning', async (t) => {
    const { warnings } = await writeClustered(t, 'archive-recurrent');
    assert.deepEqual(
      warnings.map((warning) => warning.code),
      ['OPTIMIZER_STATE_KEPT'],
    );
  });

  test('unknown replacement path is rejected', async (t) => {
    const source = await readKerasArchive(fixture('archive-convolutional.keras'));
    const outPath = join(await temporaryFolder(t), 'out.keras');
    await assert.rejects(writeKerasArchive(source, outPath, new Map([['/layers/nothing/vars/0', new Float32Array(1)]])), (error) => {
      assert.ok(isCentroidError(error));
      assert.equal(error.code, 'MODEL_WEIGHTS_MISMATCH');
      assert.match(error.message, /\/layers\/nothing\/vars\/0, which is not a weight dataset/);
      return true;
    });
  });
});

describe('clustered .keras archives in Keras 3', { skip: pythonSkipReason() }, () => {
  const cases = [
    { name: 'archive-recurrent', tolerance: 1e-4 },
    { name: 'archive-convolutional', tolerance: 1e-4 },
    { name: 'archive-embedding', tolerance: 1e-4 },
    // Keras computes these layers in float16 and TF.js in float32.
    { name: 'archive-float16', tolerance: 5e-3 },
  ];

  test('Keras 3 predicts as the engine does', async (t) => {
    const folder = await temporaryFolder(t);
    const requests = [];
    const engine = new Map<string, Float32Array>();
    for (const { name } of cases) {
      const { outPath } = await writeClustered(t, name);
      const written = await readKerasArchive(outPath);
      const { model } = await toLayersModel(written);
      const x = (await readNpz(fixture(`${name}.io.npz`))).get('x');
      assert.ok(x !== undefined);
      const input = tf.tensor(x.data as Float32Array, x.shape);
      const output = model.predict(input) as tf.Tensor;
      engine.set(name, (await output.data()) as Float32Array);
      tf.dispose([input, output]);
      model.dispose();
      requests.push({ model: outPath, inputs: fixture(`${name}.io.npz`), output: join(folder, `${name}.npy`) });
    }

    const requestsPath = join(folder, 'requests.json');
    await writeFile(requestsPath, JSON.stringify(requests));
    const lines = (await runPython('keras3_predict.py', [requestsPath])).trim().split('\n');
    assert.equal(lines.length, cases.length);

    for (const { name, tolerance } of cases) {
      const keras = await readNpy(join(folder, `${name}.npy`));
      const difference = maxAbsoluteDifference(keras.data as Float32Array, engine.get(name) as Float32Array);
      assert.ok(difference < tolerance, `${name}: Keras and the engine differ by ${difference}`);
    }
    assert.match(lines[3] ?? '', /"dtype": "float16"/);
  });
});
