import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, mock, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { packTfjsModel, readKerasArchive, readKerasH5, readNpz, readTfjsModel, toLayersModel, writeTfjsModel } from '../src/index.js';
import { readTestZip } from './archive-helpers.js';
import { fixture, maxAbsoluteDifference, temporaryFolder } from './helpers.js';
import { loadTfjsZip, predictValues, saveTfjsFolder } from './tfjs-helpers.js';

import type { ModelFile } from '../src/index.js';

/** The Keras 2 and Keras 3 fixtures of packages/examples, written by make_format_fixtures.py. */
const FORMATS = fileURLToPath(new URL('../../examples/fixtures/formats/', import.meta.url));

interface WrittenTrainingConfig {
  loss: unknown;
  optimizer_config: { class_name: string; config: Record<string, unknown> };
}

async function writtenTrainingConfig(outPath: string): Promise<WrittenTrainingConfig | undefined> {
  const members = await readTestZip(outPath);
  return (JSON.parse(new TextDecoder().decode(members['model.json'])) as { trainingConfig?: WrittenTrainingConfig }).trainingConfig;
}

function quantise(values: Float32Array, step = 0.125): Float32Array {
  return values.map((value) => Math.round(value / step) * step);
}

function replaceKernels(file: ModelFile): Map<string, Float32Array> {
  return new Map(file.weights.filter((weight) => weight.shape.length >= 2).map((weight) => [weight.datasetPath, quantise(weight.values)]));
}

/** Asserts that tf.loadLayersModel on the written zip predicts as the engine's model built from the source with the same replacements. */
async function assertLoadsLikeEngine(source: ModelFile, outPath: string, input: number[] | string, tolerance = 1e-5): Promise<void> {
  const written = await readTfjsModel(outPath);
  const { model: engineModel } = await toLayersModel(written);
  const loaded = await loadTfjsZip(outPath);
  const x = typeof input === 'string' ? await fixtureInput(input) : tf.randomNormal(input, 0, 1, 'float32', 3);
  const difference = maxAbsoluteDifference(await predictValues(loaded, x), await predictValues(engineModel, x));
  tf.dispose(x);
  engineModel.dispose();
  loaded.dispose();
  assert.ok(difference < tolerance, `${source.filename}: tf.loadLayersModel and the engine differ by ${difference}`);
}

/** Returns the input batch `x` of a fixture's `.io.npz`. */
async function fixtureInput(name: string): Promise<tf.Tensor> {
  const x = (await readNpz(fixture(`${name}.io.npz`))).get('x');
  assert.ok(x !== undefined, `${name}.io.npz has no array x`);
  return tf.tensor(x.data as Float32Array, x.shape);
}

describe('writing TF.js layers models', () => {
  test('TF.js upload keeps model.json and other bytes', async (t) => {
    const folder = join(await temporaryFolder(t), 'model');
    const original = tf.sequential({ layers: [tf.layers.dense({ inputShape: [5], units: 4, name: 'hidden' }), tf.layers.dense({ units: 2, name: 'out' })] });
    await saveTfjsFolder(original, folder, 40);
    const source = await readTfjsModel(folder);
    const replacements = replaceKernels(source);
    const outPath = join(folder, '..', 'out.zip');
    await writeTfjsModel(source, outPath, replacements);

    const written = await readTfjsModel(outPath);
    for (const [index, weight] of written.weights.entries()) {
      const expected = replacements.get(weight.datasetPath) ?? (source.weights[index]?.values as Float32Array);
      assert.deepEqual(Array.from(weight.values), Array.from(expected), weight.name);
    }
    const members = await readTestZip(outPath);
    assert.ok(Buffer.from(members['model.json'] as Uint8Array).equals(await readFile(join(folder, 'model.json'))), 'model.json changed');
    assert.deepEqual(
      Object.keys(members).sort(),
      ['model.json', ...source.weightGroups.flatMap((group) => group.paths)].sort(),
    );
    await assertLoadsLikeEngine(source, outPath, [3, 5]);
  });

  test('packing is time-independent', async (t) => {
    const folder = await temporaryFolder(t);
    const packed: Buffer[] = [];
    for (const now of [Date.UTC(2026, 0, 1, 9, 30), Date.UTC(2026, 6, 15, 18, 5, 3)]) {
      const outPath = join(folder, `packed-${now}.zip`);
      mock.timers.enable({ apis: ['Date'], now });
      try {
        await packTfjsModel(join(FORMATS, 'keras2', 'batch-norm.tfjs'), outPath);
      } finally {
        mock.timers.reset();
      }
      packed.push(await readFile(outPath));
    }
    assert.ok(packed[0]!.equals(packed[1]!), 'the two packed zips differ');
  });

  test('.keras converts and loads in TF.js', async (t) => {
    const source = await readKerasArchive(fixture('archive-recurrent.keras'));
    const outPath = join(await temporaryFolder(t), 'model.tfjs.zip');
    const { warnings } = await writeTfjsModel(source, outPath, replaceKernels(source));
    assert.deepEqual(warnings, []);
    await assertLoadsLikeEngine(source, outPath, [2, 6, 4]);

    const members = await readTestZip(outPath);
    const modelJson = JSON.parse(new TextDecoder().decode(members['model.json'])) as { trainingConfig?: { loss?: unknown } };
    assert.equal(modelJson.trainingConfig?.loss, 'sparse_categorical_crossentropy');
  });

  test('converted values match the replacements', async (t) => {
    const source = await readKerasArchive(fixture('archive-convolutional.keras'));
    const replacements = replaceKernels(source);
    const outPath = join(await temporaryFolder(t), 'model.tfjs.zip');
    await writeTfjsModel(source, outPath, replacements);
    const { model: fromSource, bindings } = await toLayersModel(source);
    const written = await readTfjsModel(outPath);
    const byName = new Map(written.weights.map((weight) => [weight.name, weight]));
    for (const binding of bindings) {
      const name = (binding.layer.weights[binding.weightIndex] as tf.LayerVariable).originalName;
      const expected = replacements.get(binding.entry.datasetPath) ?? binding.entry.values;
      assert.deepEqual(Array.from(byName.get(name)?.values ?? []), Array.from(expected), name);
    }
    fromSource.dispose();
  });

  test('float16 stays float16', async (t) => {
    const source = await readKerasArchive(fixture('archive-float16.keras'));
    const outPath = join(await temporaryFolder(t), 'model.tfjs.zip');
    await writeTfjsModel(source, outPath, replaceKernels(source));
    const written = await readTfjsModel(outPath);
    assert.deepEqual(
      written.weights.map((weight) => weight.dtype),
      ['float16', 'float16', 'float16', 'float16'],
    );
    await assertLoadsLikeEngine(source, outPath, [2, 4]);
  });

  test('.h5 converts and loads in TF.js', async (t) => {
    for (const name of ['nested', 'recurrent', 'float64', 'separable']) {
      const source = await readKerasH5(fixture(`${name}.h5`));
      const outPath = join(await temporaryFolder(t), `${name}.tfjs.zip`);
      const { warnings } = await writeTfjsModel(source, outPath, replaceKernels(source));
      await assertLoadsLikeEngine(source, outPath, name);
      assert.equal(
        warnings.some((warning) => warning.code === 'WEIGHTS_NARROWED'),
        name === 'float64',
        `${name}: WEIGHTS_NARROWED warning`,
      );
    }
  });

  test('keeps a Custom>Adam training config', async (t) => {
    const source = await readKerasH5(join(FORMATS, 'keras2/nested-sequential.h5'));
    const outPath = join(await temporaryFolder(t), 'model.tfjs.zip');
    const { warnings } = await writeTfjsModel(source, outPath, new Map());

    assert.deepEqual(warnings, []);
    const trainingConfig = await writtenTrainingConfig(outPath);
    assert.equal(trainingConfig?.optimizer_config.class_name, 'Adam');
    assert.equal(trainingConfig?.loss, 'categorical_crossentropy');
    const loaded = await loadTfjsZip(outPath);
    assert.notEqual(loaded.optimizer, undefined, 'tf.loadLayersModel compiled the model');
    assert.ok(loaded.optimizer !== null, 'tf.loadLayersModel compiled the model');
    assert.equal(loaded.optimizer.getConfig().learningRate, source.trainingConfig?.optimizer_config?.config.learning_rate);
    loaded.dispose();
  });

  test('spells out the loss mse', async (t) => {
    const source = await readKerasH5(join(FORMATS, 'keras3/batch-norm.h5'));
    const outPath = join(await temporaryFolder(t), 'model.tfjs.zip');
    const { warnings } = await writeTfjsModel(source, outPath, new Map());

    assert.deepEqual(warnings, []);
    assert.equal(source.trainingConfig?.loss, 'mse');
    assert.equal((await writtenTrainingConfig(outPath))?.loss, 'mean_squared_error');
  });

  test('explains a training config without optimizer', async (t) => {
    const source = await readKerasArchive(join(FORMATS, 'keras3/float16.keras'));
    const outPath = join(await temporaryFolder(t), 'model.tfjs.zip');
    const { warnings } = await writeTfjsModel(source, outPath, new Map());

    assert.equal(await writtenTrainingConfig(outPath), undefined);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.code, 'TRAINING_CONFIG_DROPPED');
    assert.match(warnings[0]!.message, /the training config of float16\.keras names no optimizer/);
    assert.match(warnings[0]!.message, /The loss \(mse\) and metrics are not kept; compile the model after loading it/);
    assert.doesNotMatch(warnings[0]!.message, /Cannot convert/);
  });
});
