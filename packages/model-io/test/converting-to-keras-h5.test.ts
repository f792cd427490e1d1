import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { isCentroidError } from '@centroid/contracts';

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

  test('float16 weights are rejected', async (t) => {
    const source = await readKerasArchive(fixture('archive-float16.keras'));
    const outPath = join(await temporaryFolder(t), 'half.h5');
    await assert.rejects(writeModel(source, 'keras_h5', outPath, new Map()), (error) => {
      assert.ok(isCentroidError(error));
      assert.equal(error.code, 'MODEL_FORMAT_UNSUPPORTED');
      assert.match(error.message, /is float16, and a Keras HDF5 file with float16 weights cannot be created/);
      return true;
    });
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
});
