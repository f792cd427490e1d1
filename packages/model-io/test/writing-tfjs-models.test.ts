import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, mock, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { packTfjsModel, readKerasArchive, readKerasH5, readNpz, readTfjsModel, toLayersModel, writeTfjsModel } from '../src/index.js';
import { float32ToFloat16 } from '../src/float16.js';
import { readTestZip } from './archive-helpers.js';
import { fixture, maxAbsoluteDifference, temporaryFolder } from './helpers.js';
import { loadTfjsZip, predictValues, saveTfjsFolder } from './tfjs-helpers.js';

import type { TestContext } from 'node:test';

import type { ModelFile, TfjsModelFile } from '../src/index.js';

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

/** The TF.js models that the tensorflowjs 4.22 converter wrote from Keras 3 models, with the dtype of their input. */
const KERAS3_TFJS_FIXTURES = (
  JSON.parse(await readFile(join(FORMATS, 'manifest.json'), 'utf8')) as { fixtures: { file: string; keras: number; format: string; model: string; input_dtype: string }[] }
).fixtures.filter((entry) => entry.keras === 3 && entry.format === 'tfjs_layers');

interface ManifestGroup {
  paths: string[];
  weights: { name: string; shape: number[]; dtype: string; quantization?: Record<string, unknown> }[];
}

interface WrittenModelJson {
  modelTopology: Record<string, unknown>;
  weightsManifest: ManifestGroup[];
  trainingConfig?: unknown;
}

async function writtenModelJson(outPath: string): Promise<WrittenModelJson> {
  const members = await readTestZip(outPath);
  return JSON.parse(new TextDecoder().decode(members['model.json'])) as WrittenModelJson;
}

/** Copies the Keras 3 TF.js fixture `model` into a temporary folder and returns the folder and its parsed model.json. */
async function copyKeras3Fixture(t: TestContext, model: string): Promise<{ folder: string; modelJson: WrittenModelJson }> {
  const folder = join(await temporaryFolder(t), `${model}.tfjs`);
  await cp(join(FORMATS, 'keras3', `${model}.tfjs`), folder, { recursive: true });
  return { folder, modelJson: JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')) as WrittenModelJson };
}

/** Returns the recorded inputs of a format fixture as a tensor of the model's input dtype. */
async function recordedInputs(model: string, inputDtype: string): Promise<tf.Tensor> {
  const { inputs } = JSON.parse(await readFile(join(FORMATS, 'keras3', `${model}.predictions.json`), 'utf8')) as { inputs: tf.TensorLike };
  return tf.tensor(inputs, undefined, inputDtype.startsWith('int') ? 'int32' : 'float32');
}

/** Returns the TF.js variable name that the engine binds to each weight of `source`, by manifest name. */
async function variableNames(source: ModelFile): Promise<Map<string, string>> {
  const { model, bindings } = await toLayersModel(source);
  model.dispose();
  return new Map(bindings.map((binding) => [binding.entry.datasetPath, (binding.layer.weights[binding.weightIndex] as tf.LayerVariable).originalName]));
}

function bitsOf(values: Float32Array): number[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
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

  test('Keras 3 model.json loads in TF.js', async (t) => {
    assert.equal(KERAS3_TFJS_FIXTURES.length, 14, 'Keras 3 TF.js fixtures in manifest.json');
    for (const { file, model, input_dtype: inputDtype } of KERAS3_TFJS_FIXTURES) {
      const source = await readTfjsModel(join(FORMATS, dirname(file)));
      const replacements = replaceKernels(source);
      const outPath = join(await temporaryFolder(t), `${model}.tfjs.zip`);
      const { warnings } = await writeTfjsModel(source, outPath, replacements);

      assert.deepEqual(warnings.map((warning) => warning.code), ['TFJS_TOPOLOGY_REWRITTEN'], model);
      assert.match(warnings[0]!.message, new RegExp(`The model\\.json of ${model}\\.tfjs has a Keras 3 topology`));
      assert.match(warnings[0]!.message, /rewritten in the form that TF\.js 4\.22 loads/);

      // The engine's model: built from the source as uploaded, with the replacements applied.
      const replaced: TfjsModelFile = { ...source, weights: source.weights.map((weight) => ({ ...weight, values: replacements.get(weight.datasetPath) ?? weight.values })) };
      const { model: engineModel } = await toLayersModel(replaced);
      const loaded = await loadTfjsZip(outPath);
      const x = await recordedInputs(model, inputDtype);
      const difference = maxAbsoluteDifference(await predictValues(loaded, x), await predictValues(engineModel, x));
      assert.ok(difference < 1e-5, `${model}: tf.loadLayersModel and the engine differ by ${difference}`);
      const written = await writtenModelJson(outPath);
      assert.deepEqual(
        written.weightsManifest.flatMap((group) => group.weights.map((weight) => weight.name)),
        engineModel.weights.map((variable) => variable.originalName),
        `${model}: manifest names and order`,
      );
      tf.dispose(x);
      engineModel.dispose();
      loaded.dispose();

      const names = await variableNames(source);
      const writtenByName = new Map((await readTfjsModel(outPath)).weights.map((weight) => [weight.name, weight]));
      for (const weight of source.weights) {
        const output = writtenByName.get(names.get(weight.datasetPath)!);
        assert.ok(output !== undefined, `${model}: ${weight.name} is missing from the output`);
        assert.equal(output.dtype, weight.dtype, `${model}: ${weight.name} changed dtype`);
        assert.deepEqual(bitsOf(output.values), bitsOf(replacements.get(weight.datasetPath) ?? weight.values), `${model}: ${weight.name}`);
      }
    }
  });

  test('Keras 3 model.json keeps the rest', async (t) => {
    const source = await readTfjsModel(join(FORMATS, 'keras3', 'float16.tfjs'));
    const outPath = join(await temporaryFolder(t), 'model.tfjs.zip');
    await writeTfjsModel(source, outPath, replaceKernels(source));
    const original = source.modelJson as unknown as WrittenModelJson & Record<string, unknown>;
    const written = (await writtenModelJson(outPath)) as WrittenModelJson & Record<string, unknown>;

    for (const key of ['format', 'generatedBy', 'convertedBy']) {
      assert.equal(written[key], original[key], key);
    }
    for (const key of ['keras_version', 'backend', 'training_config']) {
      assert.deepEqual(written.modelTopology[key], original.modelTopology[key], `modelTopology.${key}`);
    }
    type LayerList = { config: { layers: { config: Record<string, unknown> }[] } };
    const originalInput = (original.modelTopology.model_config as LayerList).config.layers[0]?.config;
    const writtenInput = (written.modelTopology.model_config as LayerList).config.layers[0]?.config;
    assert.equal(originalInput?.dtype, 'float16');
    assert.equal(writtenInput?.dtype, 'float32');
    assert.equal(writtenInput?.batch_shape, undefined);
    assert.deepEqual(writtenInput?.batch_input_shape, originalInput?.batch_shape);
    const names = await variableNames(source);
    const writtenWeights = new Map(written.weightsManifest[0]!.weights.map(({ name, ...spec }) => [name, spec]));
    for (const { name, ...spec } of original.weightsManifest[0]!.weights) {
      assert.deepEqual(writtenWeights.get(names.get(name)!), spec, name);
    }
  });

  test('Keras 3 model.json keeps float16', async (t) => {
    const { folder, modelJson } = await copyKeras3Fixture(t, 'lstm');
    const group = modelJson.weightsManifest[0]!;
    const values = new Float32Array((await readFile(join(folder, group.paths[0]!))).buffer.slice(0));
    await writeFile(join(folder, group.paths[0]!), new Uint8Array(float32ToFloat16(values).buffer));
    for (const weight of group.weights) {
      weight.quantization = { dtype: 'float16' };
    }
    await writeFile(join(folder, 'model.json'), JSON.stringify(modelJson));

    const source = await readTfjsModel(folder);
    const replacements = replaceKernels(source);
    const outPath = join(folder, '..', 'out.zip');
    await writeTfjsModel(source, outPath, replacements);

    const written = await writtenModelJson(outPath);
    assert.deepEqual(
      written.weightsManifest[0]!.weights.map((weight) => weight.quantization),
      group.weights.map(() => ({ dtype: 'float16' })),
    );
    const names = await variableNames(source);
    const writtenByName = new Map((await readTfjsModel(outPath)).weights.map((weight) => [weight.name, weight]));
    for (const weight of source.weights) {
      const output = writtenByName.get(names.get(weight.datasetPath)!)!;
      assert.equal(output.dtype, 'float16', weight.name);
      assert.deepEqual(bitsOf(output.values), bitsOf(replacements.get(weight.datasetPath) ?? weight.values), weight.name);
    }
    await assertLoadsLikeEngine(source, outPath, [2, 5, 3]);
  });

  test('Keras 3 model.json keeps quantization', async (t) => {
    const { folder, modelJson } = await copyKeras3Fixture(t, 'lstm');
    const group = modelJson.weightsManifest[0]!;
    const values = new Float32Array((await readFile(join(folder, group.paths[0]!))).buffer.slice(0));
    const codes = Uint8Array.from(values, (value) => Math.min(255, Math.max(0, Math.round((value + 1) / 0.01))));
    await writeFile(join(folder, group.paths[0]!), codes);
    for (const weight of group.weights) {
      weight.quantization = { dtype: 'uint8', scale: 0.01, min: -1 };
    }
    await writeFile(join(folder, 'model.json'), JSON.stringify(modelJson));

    const source = await readTfjsModel(folder);
    const kernel = source.weights.find((weight) => weight.name === 'lstm/head/kernel')!;
    const clustered = kernel.values.map((value) => (value < 0 ? -0.5 : 0.75));
    const outPath = join(folder, '..', 'out.zip');
    await writeTfjsModel(source, outPath, new Map([[kernel.datasetPath, clustered]]));

    const written = await writtenModelJson(outPath);
    const quantization = new Map(written.weightsManifest[0]!.weights.map((weight) => [weight.name, weight.quantization]));
    assert.deepEqual(quantization.get('head/kernel'), { dtype: 'uint8', scale: 1.25 / 255, min: -0.5 });
    assert.deepEqual(quantization.get('lstm/kernel'), { dtype: 'uint8', scale: 0.01, min: -1 });
    const writtenFile = await readTfjsModel(outPath);
    const writtenKernel = writtenFile.weights.find((weight) => weight.name === 'head/kernel');
    assert.deepEqual([...new Set(writtenKernel?.values)].sort(), [-0.5, 0.75]);
    const untouched = writtenFile.weights.find((weight) => weight.name === 'lstm/recurrent_kernel')!;
    assert.deepEqual(bitsOf(untouched.values), bitsOf(source.weights.find((weight) => weight.name === 'lstm/lstm/lstm_cell/recurrent_kernel')!.values));
    await assertLoadsLikeEngine(source, outPath, [2, 5, 3]);
  });

  test('Keras 3 model.json keeps shard size', async (t) => {
    const { folder, modelJson } = await copyKeras3Fixture(t, 'mobilenet-block');
    const group = modelJson.weightsManifest[0]!;
    const bytes = await readFile(join(folder, group.paths[0]!));
    const shardBytes = 256;
    const count = Math.ceil(bytes.byteLength / shardBytes);
    assert.ok(count >= 3, `mobilenet-block has ${bytes.byteLength} weight bytes`);
    group.paths = Array.from({ length: count }, (_, index) => `part-${index}.bin`);
    for (const [index, path] of group.paths.entries()) {
      await writeFile(join(folder, path), bytes.subarray(index * shardBytes, (index + 1) * shardBytes));
    }
    await writeFile(join(folder, 'model.json'), JSON.stringify(modelJson));

    const source = await readTfjsModel(folder);
    const outPath = join(folder, '..', 'out.zip');
    await writeTfjsModel(source, outPath, replaceKernels(source));

    const members = await readTestZip(outPath);
    const shards = Array.from({ length: count }, (_, index) => `group1-shard${index + 1}of${count}.bin`);
    assert.deepEqual((await writtenModelJson(outPath)).weightsManifest[0]?.paths, shards);
    assert.deepEqual(Object.keys(members).sort(), ['model.json', ...shards].sort());
    assert.equal(members[shards[0]!]?.byteLength, shardBytes);
    await assertLoadsLikeEngine(source, outPath, [2, 8, 8, 4]);
  });

  test('Keras 3 keeps a compilable trainingConfig', async (t) => {
    const { folder, modelJson } = await copyKeras3Fixture(t, 'lstm');
    const adam = { learning_rate: 0.01, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7 };
    const trainingConfig = { loss: 'meanSquaredError', optimizer_config: { class_name: 'Adam', config: adam } };
    await writeFile(join(folder, 'model.json'), JSON.stringify({ ...modelJson, trainingConfig }));
    const outPath = join(folder, '..', 'out.zip');
    const { warnings } = await writeTfjsModel(await readTfjsModel(folder), outPath, new Map());

    assert.deepEqual(warnings.map((warning) => warning.code), ['TFJS_TOPOLOGY_REWRITTEN']);
    assert.deepEqual((await writtenModelJson(outPath)).trainingConfig, trainingConfig);
    const loaded = await loadTfjsZip(outPath);
    assert.notEqual(loaded.optimizer, undefined, 'tf.loadLayersModel compiled the model');
    assert.ok(loaded.optimizer !== null, 'tf.loadLayersModel compiled the model');
    assert.equal(loaded.optimizer.getConfig().learningRate, 0.01);
    loaded.dispose();
  });

  test('Keras 3 drops a rejected trainingConfig', async (t) => {
    const { folder, modelJson } = await copyKeras3Fixture(t, 'lstm');
    const trainingConfig = { loss: 'meanSquaredError', optimizer_config: { class_name: 'NoSuchOptimizer', config: {} } };
    await writeFile(join(folder, 'model.json'), JSON.stringify({ ...modelJson, trainingConfig }));
    const outPath = join(folder, '..', 'out.zip');
    const { warnings } = await writeTfjsModel(await readTfjsModel(folder), outPath, new Map());

    assert.deepEqual(warnings.map((warning) => warning.code), ['TFJS_TOPOLOGY_REWRITTEN', 'TRAINING_CONFIG_DROPPED']);
    assert.match(warnings[1]!.message, /TF\.js cannot compile the model of lstm\.tfjs/);
    const written = await writtenModelJson(outPath);
    assert.equal(written.trainingConfig, undefined);
    assert.deepEqual(written.modelTopology.training_config, modelJson.modelTopology.training_config);
    (await loadTfjsZip(outPath)).dispose();
  });

  test('Keras 2 model.json keeps its bytes', async (t) => {
    const folder = join(FORMATS, 'keras2', 'lstm.tfjs');
    const source = await readTfjsModel(folder);
    const outPath = join(await temporaryFolder(t), 'model.tfjs.zip');
    const { warnings } = await writeTfjsModel(source, outPath, replaceKernels(source));

    assert.deepEqual(warnings, []);
    const members = await readTestZip(outPath);
    assert.ok(Buffer.from(members['model.json'] as Uint8Array).equals(await readFile(join(folder, 'model.json'))), 'model.json changed');
  });

  test('packing keeps a Keras 3 model.json', async (t) => {
    const folder = join(FORMATS, 'keras3', 'lstm.tfjs');
    const outPath = join(await temporaryFolder(t), 'packed.zip');
    await packTfjsModel(folder, outPath);

    const members = await readTestZip(outPath);
    assert.ok(Buffer.from(members['model.json'] as Uint8Array).equals(await readFile(join(folder, 'model.json'))), 'model.json changed');
  });
});
