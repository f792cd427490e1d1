import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { float16ToFloat32, float32ToFloat16 } from '../src/float16.js';
import { readKerasArchive, readKerasH5, readModel, readNpy, readNpz, readTfjsModel, toLayersModel, writeModel, writeTfjsModel } from '../src/index.js';
import { fixture, maxAbsoluteDifference, pythonSkipReason, runPython, temporaryFolder } from './helpers.js';

import type { TestContext } from 'node:test';
import type { ModelFile } from '../src/index.js';

function quantise(values: Float32Array, step = 0.125): Float32Array {
  return values.map((value) => Math.round(value / step) * step);
}

function replaceKernels(file: ModelFile): Map<string, Float32Array> {
  return new Map(file.weights.filter((weight) => weight.shape.length >= 2).map((weight) => [weight.datasetPath, quantise(weight.values)]));
}

/** Returns the engine's prediction for the fixture's input batch `x`. */
async function enginePrediction(file: ModelFile, ioName: string): Promise<Float32Array> {
  const { model } = await toLayersModel(file);
  const x = (await readNpz(fixture(`${ioName}.io.npz`))).get('x');
  assert.ok(x !== undefined, `${ioName}.io.npz has no array x`);
  const input = tf.tensor(x.data as Float32Array, x.shape);
  const output = model.predict(input) as tf.Tensor;
  const values = (await output.data()) as Float32Array;
  tf.dispose([input, output]);
  model.dispose();
  return values;
}

/** Converts each source to `.h5` with kernels replaced and returns the written path, the source and the fixture of its inputs. */
async function convertAll(t: TestContext) {
  const folder = await temporaryFolder(t);
  const tfjsPath = join(folder, 'functional-cnn.tfjs.zip');
  await writeTfjsModel(await readKerasH5(fixture('functional-cnn.h5')), tfjsPath, new Map());
  const sources: { source: ModelFile; io: string }[] = [
    { source: await readKerasArchive(fixture('archive-convolutional.keras')), io: 'archive-convolutional' },
    { source: await readKerasArchive(fixture('archive-recurrent.keras')), io: 'archive-recurrent' },
    { source: await readTfjsModel(tfjsPath), io: 'functional-cnn' },
  ];
  const converted = [];
  for (const { source, io } of sources) {
    const outPath = join(folder, `${io}.h5`);
    await writeModel(source, 'keras_h5', outPath, replaceKernels(source));
    converted.push({ source, io, outPath });
  }
  return { folder, converted };
}

describe('converting models into .h5', () => {
  test('.keras and TF.js become Keras HDF5', async (t) => {
    const { converted } = await convertAll(t);
    for (const { source, outPath } of converted) {
      const written = await readModel(outPath);
      assert.equal(written.format, 'keras_h5', source.filename);
      assert.equal(written.weights.length, source.weights.length, source.filename);
      assert.deepEqual(written.trainingConfig?.loss ?? null, source.trainingConfig?.loss ?? null, source.filename);
    }
  });

  test('engine predicts the same after conversion', async (t) => {
    const { converted } = await convertAll(t);
    for (const { source, io, outPath } of converted) {
      const replacements = replaceKernels(source);
      const replaced = { ...source, weights: source.weights.map((weight) => ({ ...weight, values: replacements.get(weight.datasetPath) ?? weight.values })) };
      const before = await enginePrediction(replaced, io);
      const after = await enginePrediction(await readKerasH5(outPath), io);
      assert.ok(maxAbsoluteDifference(after, before) < 1e-6, `${io}: predictions differ by ${maxAbsoluteDifference(after, before)}`);
    }
  });

  test('float16 weights stay float16', async (t) => {
    const folder = await temporaryFolder(t);
    const tfjsPath = join(folder, 'float16.tfjs.zip');
    await writeTfjsModel(await readKerasH5(fixture('float16.h5')), tfjsPath, new Map());

    for (const source of [await readKerasArchive(fixture('archive-float16.keras')), await readTfjsModel(tfjsPath)]) {
      assert.ok(source.weights.every((weight) => weight.dtype === 'float16'), `${source.filename} is not all float16`);
      const replacements = replaceKernels(source);
      const outPath = join(folder, `${source.format}.h5`);
      await writeModel(source, 'keras_h5', outPath, replacements);

      // Both list each layer's kernel before its bias, so the weights pair up by position.
      const written = await readKerasH5(outPath);
      assert.equal(written.weights.length, source.weights.length, source.filename);
      for (const [index, weight] of written.weights.entries()) {
        const expected = source.weights[index] as (typeof source.weights)[number];
        const values = replacements.get(expected.datasetPath) ?? expected.values;
        assert.equal(weight.dtype, 'float16', `${source.filename}: ${weight.datasetPath}`);
        assert.deepEqual(weight.shape, expected.shape, `${source.filename}: ${weight.datasetPath}`);
        assert.deepEqual(weight.values, float16ToFloat32(float32ToFloat16(values)), `${source.filename}: ${weight.datasetPath}`);
      }
    }
  });
});

describe('converted .h5 files in Keras 3', { skip: pythonSkipReason() }, () => {
  test('Keras 3 predicts as the engine does', async (t) => {
    const { folder, converted } = await convertAll(t);
    const requests = converted.map(({ io, outPath }) => ({ model: outPath, inputs: fixture(`${io}.io.npz`), output: join(folder, `${io}.keras3.npy`) }));
    const requestsPath = join(folder, 'requests.json');
    await writeFile(requestsPath, JSON.stringify(requests));
    await runPython('keras3_predict.py', [requestsPath]);

    for (const { io, outPath } of converted) {
      const keras = await readNpy(join(folder, `${io}.keras3.npy`));
      const engine = await enginePrediction(await readKerasH5(outPath), io);
      const difference = maxAbsoluteDifference(keras.data as Float32Array, engine);
      assert.ok(difference < 1e-4, `${io}: Keras 3 and the engine differ by ${difference}`);
    }
  });

  test('tf_keras loads a converted TF.js model', async (t) => {
    const { folder, converted } = await convertAll(t);
    const { io, outPath } = converted.find((entry) => entry.source.format === 'tfjs') as (typeof converted)[number];
    const requestsPath = join(folder, 'requests.json');
    const output = join(folder, `${io}.tf_keras.npy`);
    await writeFile(requestsPath, JSON.stringify([{ model: outPath, inputs: fixture(`${io}.io.npz`), output }]));
    await runPython('keras_predict.py', [requestsPath]);
    const keras = await readNpy(output);
    const engine = await enginePrediction(await readKerasH5(outPath), io);
    const difference = maxAbsoluteDifference(keras.data as Float32Array, engine);
    assert.ok(difference < 1e-4, `tf_keras and the engine differ by ${difference}`);
  });

  test('Keras 3 loads a float16 .h5', async (t) => {
    const folder = await temporaryFolder(t);
    const sourcePath = fixture('archive-float16.keras');
    const outPath = join(folder, 'archive-float16.h5');
    await writeModel(await readKerasArchive(sourcePath), 'keras_h5', outPath, new Map());

    const requests = [sourcePath, outPath].map((model, index) => ({ model, inputs: fixture('archive-float16.io.npz'), output: join(folder, `${index}.npy`) }));
    const requestsPath = join(folder, 'requests.json');
    await writeFile(requestsPath, JSON.stringify(requests));
    const dtypes = (await runPython('keras3_predict.py', [requestsPath])).trim().split('\n').map((line) => (JSON.parse(line) as { dtype: string }).dtype);
    assert.deepEqual(dtypes, ['float16', 'float16']);

    // Both models compute in float16 with the same weights, so their outputs are equal.
    const source = await readNpy(join(folder, '0.npy'));
    const converted = await readNpy(join(folder, '1.npy'));
    assert.deepEqual(converted.data, source.data);
  });

  test('tf_keras loads float16 weights from TF.js', async (t) => {
    const folder = await temporaryFolder(t);
    const tfjsPath = join(folder, 'float16.tfjs.zip');
    await writeTfjsModel(await readKerasH5(fixture('float16.h5')), tfjsPath, new Map());
    const outPath = join(folder, 'float16.h5');
    await writeModel(await readTfjsModel(tfjsPath), 'keras_h5', outPath, new Map());

    const datasets = JSON.parse(await runPython('read_datasets.py', [outPath]))[outPath] as Record<string, { dtype: string }>;
    assert.ok(Object.keys(datasets).length > 0, 'the converted file has no datasets');
    for (const [path, { dtype }] of Object.entries(datasets)) {
      assert.equal(dtype, '<f2', path);
    }

    const requestsPath = join(folder, 'requests.json');
    const output = join(folder, 'float16.tf_keras.npy');
    await writeFile(requestsPath, JSON.stringify([{ model: outPath, inputs: fixture('float16.io.npz'), output }]));
    await runPython('keras_predict.py', [requestsPath]);
    const keras = await readNpy(output);
    const engine = await enginePrediction(await readKerasH5(outPath), 'float16');
    const difference = maxAbsoluteDifference(keras.data as Float32Array, engine);
    assert.ok(difference < 1e-4, `tf_keras and the engine differ by ${difference}`);
  });
});
