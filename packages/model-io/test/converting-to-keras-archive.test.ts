import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';

import { unzipSync } from 'fflate';

import * as tf from '@tensorflow/tfjs';

import { isCentroidError } from '@centroid/contracts';

import { float16ToFloat32, float32ToFloat16 } from '../src/float16.js';
import { findUnsupportedKeras3Layers, toKeras3CompileConfig, toKeras3ModelConfig } from '../src/keras-archive/keras3-config.js';
import { outputFormatProblem, readKerasArchive, readModel, toLayersModel, writeModel } from '../src/index.js';
import { maxAbsoluteDifference, pythonSkipReason, repositoryRoot, temporaryFolder, venvPython } from './helpers.js';

import type { TestContext } from 'node:test';
import type { KerasModelConfig, ModelFile } from '../src/index.js';

const formatsFolder = join(repositoryRoot, 'packages', 'examples', 'fixtures', 'formats');
const predictScript = join(repositoryRoot, 'packages', 'examples', 'python', 'predict.py');

/** Entry of packages/examples/fixtures/formats/manifest.json. */
interface FormatFixture {
  file: string;
  keras: 2 | 3;
  format: 'h5' | 'keras' | 'tfjs_layers';
  model: string;
  input_dtype: string;
  predictions: string;
}

interface Predictions {
  inputs: unknown[];
  outputs: number[][];
}

/** Runs a Python script at `scriptPath` with the repository venv and returns its stdout. */
async function runVenvPython(scriptPath: string, args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(venvPython, [scriptPath, ...args], {
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

async function formatFixtures(): Promise<FormatFixture[]> {
  const manifest = await readJson<{ fixtures: FormatFixture[] }>(join(formatsFolder, 'manifest.json'));
  return manifest.fixtures;
}

/** Returns the model config of a formats fixture, read by the project's own reader. */
async function configOf(file: string): Promise<KerasModelConfig> {
  return (await readModel(join(formatsFolder, file))).modelConfig;
}

/** Returns the parsed `config.json` of a `.keras` fixture, without the members Keras adds beyond the layer configs. */
async function archiveConfigOf(file: string): Promise<Record<string, unknown>> {
  const members = unzipSync(new Uint8Array(await readFile(join(formatsFolder, file))));
  const text = new TextDecoder().decode(members['config.json']);
  return stripKeys(JSON.parse(text), new Set(['shared_object_id', 'build_config', 'compile_config'])) as Record<string, unknown>;
}

function stripKeys(value: unknown, keys: Set<string>): unknown {
  if (Array.isArray(value)) {
    return value.map((item) => stripKeys(item, keys));
  }
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => !keys.has(key))
        .map(([key, item]) => [key, stripKeys(item, keys)]),
    );
  }
  return value;
}

const noShapes = (): null => null;

/** Finds a layer config by name in a translated model config, nested models included. */
function findLayer(config: Record<string, unknown>, name: string): Record<string, unknown> | undefined {
  const layers = ((config.config as Record<string, unknown>).layers ?? []) as Record<string, unknown>[];
  for (const layer of layers) {
    const layerConfig = layer.config as Record<string, unknown>;
    if (layerConfig.name === name) {
      return layer;
    }
    if (Array.isArray(layerConfig.layers)) {
      const inner = findLayer(layer, name);
      if (inner !== undefined) {
        return inner;
      }
    }
  }
  return undefined;
}

describe('translating configs to Keras 3', () => {
  test('Keras 3 .h5 configs match .keras', async () => {
    for (const model of ['branches', 'nested-sequential', 'bidirectional-lstm', 'mobilenet-block', 'time-distributed', 'embedding-conv1d']) {
      const h5Config = await configOf(`keras3/${model}.h5`);
      const translated = toKeras3ModelConfig(h5Config, `${model}.h5`, noShapes);
      assert.deepEqual(stripKeys(translated, new Set(['build_config', 'compile_config'])), await archiveConfigOf(`keras3/${model}.keras`), model);
    }
  });

  test('Keras 2 recurrent layer', async () => {
    const translated = toKeras3ModelConfig(await configOf('keras2/lstm.h5'), 'lstm.h5', noShapes);
    assert.equal(translated.module, 'keras');
    assert.equal(translated.class_name, 'Sequential');

    const [input, lstm] = (translated.config as { layers: Record<string, Record<string, unknown>>[] }).layers;
    assert.deepEqual(input?.config?.batch_shape, [null, 5, 3]);
    assert.equal(input?.config?.batch_input_shape, undefined);
    assert.equal(input?.config?.dtype, 'float32');
    assert.equal(lstm?.module, 'keras.layers');
    assert.equal(lstm?.registered_name, null);
    assert.deepEqual(lstm?.config?.dtype, { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null });
    assert.equal(lstm?.config?.time_major, undefined);
    assert.equal(lstm?.config?.implementation, undefined);
    assert.equal((lstm?.config?.kernel_initializer as Record<string, unknown>).module, 'keras.initializers');
  });

  test('Keras 2 functional nodes', async () => {
    const shapes: [string[], string, number, number][] = [];
    const translated = toKeras3ModelConfig(await configOf('keras2/branches.h5'), 'branches.h5', (path, layer, node, tensor) => {
      shapes.push([path, layer, node, tensor]);
      return [null, 6];
    });
    assert.equal(translated.module, 'keras.src.models.functional');
    assert.equal(translated.class_name, 'Functional');
    assert.ok(shapes.length > 0);

    const merges = ((translated.config as { layers: Record<string, unknown>[] }).layers).filter((layer) => layer.class_name === 'Add' || layer.class_name === 'Concatenate');
    assert.ok(merges.length > 0, 'the branches model has Add and Concatenate layers');
    for (const merge of merges) {
      const [node] = merge.inbound_nodes as { args: unknown[][]; kwargs: unknown }[];
      assert.equal(node?.args.length, 1, `${String(merge.name)}: the inputs are one list argument`);
      const tensors = node?.args[0] as { class_name: string; config: { shape: unknown; dtype: string; keras_history: unknown[] } }[];
      assert.ok(tensors.length >= 2);
      for (const tensor of tensors) {
        assert.equal(tensor.class_name, '__keras_tensor__');
        assert.deepEqual(tensor.config.shape, [null, 6]);
        assert.equal(tensor.config.dtype, 'float32');
        assert.equal(tensor.config.keras_history.length, 3);
      }
    }
  });

  test('nested model call renumbered', async () => {
    const source = await configOf('keras2/nested-sequential.h5');
    const keras2Head = JSON.stringify(source).match(/\["inner",\s*(\d+),\s*0/);
    assert.equal(keras2Head?.[1], '1', 'Keras 2 numbers the call of the nested model as node 1');

    const translated = toKeras3ModelConfig(source, 'nested-sequential.h5', noShapes);
    const head = findLayer(translated, 'head') as { inbound_nodes: { args: { config: { keras_history: unknown[] } }[] }[] };
    assert.deepEqual(head.inbound_nodes[0]?.args[0]?.config.keras_history, ['inner', 0, 0]);
    const inner = findLayer(translated, 'inner');
    assert.equal(inner?.module, 'keras');
    assert.equal((inner?.config as { layers: { class_name: string }[] }).layers[0]?.class_name, 'InputLayer');
  });

  test('normalization axis list becomes int', () => {
    const config: KerasModelConfig = {
      class_name: 'Sequential',
      config: {
        name: 'axis',
        layers: [
          { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 4], dtype: 'float32' } },
          { class_name: 'BatchNormalization', config: { name: 'bn', axis: [1], dtype: 'float32', fused: null } },
          { class_name: 'LayerNormalization', config: { name: 'ln', axis: [-1], dtype: 'float32' } },
        ],
      },
    };
    const translated = toKeras3ModelConfig(config, 'axis.h5', noShapes);
    assert.equal((findLayer(translated, 'bn')?.config as Record<string, unknown>).axis, 1);
    assert.equal((findLayer(translated, 'bn')?.config as Record<string, unknown>).fused, undefined);
    assert.equal((findLayer(translated, 'ln')?.config as Record<string, unknown>).axis, -1);
  });

  test('Sequential without InputLayer gets one', () => {
    const config: KerasModelConfig = {
      class_name: 'Sequential',
      config: { name: 'plain', layers: [{ class_name: 'Dense', config: { name: 'd', units: 2, batch_input_shape: [null, 3], dtype: 'float32' } }] },
    };
    const translated = toKeras3ModelConfig(config, 'plain.json', noShapes);
    const [input, dense] = (translated.config as { layers: { class_name: string; config: Record<string, unknown> }[] }).layers;
    assert.equal(input?.class_name, 'InputLayer');
    assert.deepEqual(input?.config.batch_shape, [null, 3]);
    assert.equal(dense?.config.batch_input_shape, undefined);
  });

  test('unknown layers are listed', () => {
    const config: KerasModelConfig = {
      class_name: 'Sequential',
      config: {
        name: 'odd',
        layers: [
          { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 4] } },
          { class_name: 'Lambda', config: { name: 'custom' } },
          { class_name: 'Dense', config: { name: 'block/dense', units: 1 } },
          { class_name: 'TimeDistributed', config: { name: 'td', layer: { class_name: 'MultiHeadAttention', config: { name: 'mha' } } } },
        ],
      },
    };
    assert.deepEqual(
      findUnsupportedKeras3Layers(config).map((layer) => layer.name),
      ['custom', 'block/dense', 'mha'],
    );
    assert.throws(
      () => toKeras3ModelConfig(config, 'odd.h5', noShapes),
      (error) => {
        assert.ok(isCentroidError(error));
        assert.equal(error.code, 'MODEL_LAYER_UNSUPPORTED');
        assert.match(error.message, /layer "custom" \(Lambda\): this layer type cannot be translated/);
        assert.match(error.message, /layer "block\/dense" \(Dense\): Keras 3 rejects "\/" in layer names/);
        assert.match(error.message, /layer "mha" \(MultiHeadAttention\)/);
        return true;
      },
    );
    const problem = outputFormatProblem('keras_h5', 'keras', [{ dtype: 'float32' }], config);
    assert.match(problem ?? '', /cannot be written as a Keras 3 archive \(\.keras\) because 3 layer\(s\) cannot be translated/);
  });

  test('outputFormatProblem for .keras output', () => {
    assert.equal(outputFormatProblem('tfjs', 'keras', [{ dtype: 'float32' }]), null);
    assert.equal(outputFormatProblem('keras_h5', 'keras', [{ dtype: 'float64' }]), null);
    assert.equal(outputFormatProblem('keras', 'keras', [{ dtype: 'float16' }]), null);
    assert.equal(outputFormatProblem('keras_h5', 'keras', [{ dtype: 'float16' }]), null);
    assert.equal(outputFormatProblem('tfjs', 'keras', [{ dtype: 'float16' }]), null);
  });

  test('training config becomes compile_config', async () => {
    const source = await readModel(join(formatsFolder, 'keras2/with-optimizer.h5'));
    assert.ok(source.trainingConfig !== null);
    const { compileConfig, problem } = toKeras3CompileConfig(source.trainingConfig);
    assert.equal(problem, null);
    assert.equal(compileConfig.loss, source.trainingConfig.loss);
    const optimizer = compileConfig.optimizer as { module: string; class_name: string; config: Record<string, unknown> };
    assert.equal(optimizer.module, 'keras.optimizers');
    assert.equal(optimizer.class_name, 'Adam');
    assert.equal(optimizer.config.jit_compile, undefined);
    assert.equal(optimizer.config.is_legacy_optimizer, undefined);
    assert.equal(typeof optimizer.config.learning_rate, 'number');

    const unknown = toKeras3CompileConfig({ loss: 'mse', optimizer_config: { class_name: 'Custom>Shampoo', config: {} } });
    assert.match(unknown.problem ?? '', /optimizer "Custom>Shampoo"/);
    assert.equal(unknown.compileConfig.optimizer, undefined);
  });
});

/**
 * Builds tf_keras models with the layer types that the formats fixtures lack, saves each
 * as `.h5` in the folder given as argument, and writes `cases.json` with each file, its
 * inputs and tf_keras's outputs. GlobalAveragePooling3D, ZeroPadding1D/3D,
 * SeparableConv1D and GlobalMaxPooling3D are left out because TF.js 4.22 cannot build them.
 */
const MAKE_LAYER_MODELS_PY = `
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tf_keras as keras
L = keras.layers
folder = sys.argv[1]
rng = np.random.default_rng(0)
image = keras.Sequential([L.InputLayer(input_shape=(8, 8, 3)), L.Conv2D(4, 3, activation="relu"), L.ZeroPadding2D(1),
    L.SeparableConv2D(5, 3, padding="same"), L.MaxPooling2D(2), L.Conv2DTranspose(3, 2, strides=2), L.AveragePooling2D(2),
    L.LayerNormalization(), L.Dropout(0.3), L.Flatten(), L.Dense(3)], name="image")
sequence = keras.Sequential([L.InputLayer(input_shape=(12, 4)), L.Conv1D(6, 3), L.MaxPooling1D(2), L.AveragePooling1D(1),
    L.SimpleRNN(5, return_sequences=True), L.GlobalAveragePooling1D(), L.Dense(2)], name="sequence")
volume = keras.Sequential([L.InputLayer(input_shape=(4, 4, 4, 2)), L.Conv3D(3, 2), L.MaxPooling3D(1), L.AveragePooling3D(1),
    L.Flatten(), L.Dense(2)], name="volume")
cases = []
for model in [image, sequence, volume]:
    x = rng.normal(size=(3,) + model.input_shape[1:]).astype("float32")
    path = os.path.join(folder, model.name + ".h5")
    model.save(path)
    cases.append({"file": path, "inputs": x.tolist(), "outputs": model.predict(x, verbose=0).astype("float64").tolist()})
with open(os.path.join(folder, "cases.json"), "w") as file:
    json.dump(cases, file)
`;

/**
 * Replaces every weight of two or more dimensions by the nearest of 8 evenly spaced values.
 * This imitates clustering with 8 clusters without running the engine.
 */
function clusterKernels(file: ModelFile): Map<string, Float32Array> {
  const replacements = new Map<string, Float32Array>();
  for (const weight of file.weights.filter((entry) => entry.shape.length >= 2)) {
    let min = Infinity;
    let max = -Infinity;
    for (const value of weight.values) {
      min = Math.min(min, value);
      max = Math.max(max, value);
    }
    const step = (max - min) / 7 || 1;
    replacements.set(weight.datasetPath, weight.values.map((value) => min + Math.round((value - min) / step) * step));
  }
  return replacements;
}

/** Returns the engine's predictions of `file` with `replacements` applied, on the fixture's recorded inputs. */
async function enginePrediction(file: ModelFile, replacements: Map<string, Float32Array>, fixture: FormatFixture, inputs: unknown[]): Promise<Float32Array> {
  const replaced = { ...file, weights: file.weights.map((weight) => ({ ...weight, values: replacements.get(weight.datasetPath) ?? weight.values })) };
  const { model } = await toLayersModel(replaced);
  const input = tf.tensor(inputs as number[], undefined, fixture.input_dtype === 'int32' ? 'int32' : 'float32');
  const output = model.predict(input) as tf.Tensor;
  const values = (await output.data()) as Float32Array;
  tf.dispose([input, output]);
  model.dispose();
  return values;
}

/** A fixture converted to `.keras`, with the engine's prediction of the clustered source. */
interface ConvertedFixture {
  fixture: FormatFixture;
  outPath: string;
  inputs: unknown[];
  engine: Float32Array;
}

/** Fixtures that are left out of the round trip, and why. */
const LEFT_OUT: Record<string, string> = {
  float16: 'Keras computes these models in float16 and the engine in float32; "float16 archives predict as the source" checks the .h5 ones',
  'slash-names': 'Keras 3 rejects "/" in layer names; the rejection is tested separately',
};

async function convertFixtures(t: TestContext): Promise<ConvertedFixture[]> {
  const folder = await temporaryFolder(t);
  const converted: ConvertedFixture[] = [];
  for (const fixture of await formatFixtures()) {
    if (fixture.format === 'keras' || LEFT_OUT[fixture.model] !== undefined) {
      continue;
    }
    const source = await readModel(join(formatsFolder, fixture.file));
    const replacements = clusterKernels(source);
    const outPath = join(folder, `${fixture.file.replace(/[/.]/g, '_')}.keras`);
    await writeModel(source, 'keras', outPath, replacements);
    const { inputs } = await readJson<Predictions>(join(formatsFolder, fixture.predictions));
    converted.push({ fixture, outPath, inputs, engine: await enginePrediction(source, replacements, fixture, inputs) });
  }
  return converted;
}

describe('converting models into .keras', () => {
  test('weights file matches Keras 3 layout', async (t) => {
    const folder = await temporaryFolder(t);
    for (const model of ['branches', 'nested-sequential', 'bidirectional-lstm', 'mobilenet-block', 'time-distributed', 'batch-norm']) {
      const outPath = join(folder, `${model}.keras`);
      await writeModel(await readModel(join(formatsFolder, `keras3/${model}.h5`)), 'keras', outPath, new Map());
      const written = await readKerasArchive(outPath);
      const saved = await readKerasArchive(join(formatsFolder, `keras3/${model}.keras`));
      const layout = (file: ModelFile): string[] => file.weights.map((weight) => `${weight.datasetPath} [${weight.shape.join(',')}]`);
      assert.deepEqual(layout(written), layout(saved), model);
    }
  });

  test('float16 weights stay float16', async (t) => {
    const folder = await temporaryFolder(t);
    for (const file of ['keras2/float16.h5', 'keras3/float16.h5']) {
      const source = await readModel(join(formatsFolder, file));
      assert.ok(source.weights.every((weight) => weight.dtype === 'float16'), `${file} is not all float16`);
      const replacements = clusterKernels(source);
      const outPath = join(folder, `${file.replace('/', '_')}.keras`);
      await writeModel(source, 'keras', outPath, replacements);

      // Both list each layer's kernel before its bias, so the weights pair up by position.
      const written = await readKerasArchive(outPath);
      assert.equal(written.weights.length, source.weights.length, file);
      for (const [index, weight] of written.weights.entries()) {
        const expected = source.weights[index] as (typeof source.weights)[number];
        const values = replacements.get(expected.datasetPath) ?? expected.values;
        assert.equal(weight.dtype, 'float16', `${file}: ${weight.datasetPath}`);
        assert.deepEqual(weight.shape, expected.shape, `${file}: ${weight.datasetPath}`);
        assert.deepEqual(weight.values, float16ToFloat32(float32ToFloat16(values)), `${file}: ${weight.datasetPath}`);
      }
    }
  });

  test('slash names are rejected', async (t) => {
    const folder = await temporaryFolder(t);
    const slashes = await readModel(join(formatsFolder, 'keras2/slash-names.h5'));
    await assert.rejects(writeModel(slashes, 'keras', join(folder, 'slashes.keras'), new Map()), (error) => {
      assert.ok(isCentroidError(error));
      assert.equal(error.code, 'MODEL_LAYER_UNSUPPORTED');
      assert.match(error.message, /Keras 3 rejects "\/" in layer names/);
      return true;
    });
  });
});

describe('converted .keras archives in Keras 3', { skip: pythonSkipReason() }, () => {
  test('Keras 3 predicts as the engine does', { timeout: 30 * 60_000 }, async (t) => {
    for (const [model, reason] of Object.entries(LEFT_OUT)) {
      t.diagnostic(`left out ${model}: ${reason}`);
    }
    const converted = await convertFixtures(t);
    assert.ok(converted.length >= 40, `expected every non-float16 .h5 and TF.js fixture, converted ${converted.length}`);

    const folder = await temporaryFolder(t);
    const requestsPath = join(folder, 'requests.json');
    const requests = converted.map(({ outPath, inputs, fixture }) => ({ model: outPath, keras: 3, inputs, input_dtype: fixture.input_dtype }));
    await writeFile(requestsPath, JSON.stringify(requests));
    const stdout = await runVenvPython(predictScript, ['--requests', requestsPath]);
    const results = JSON.parse(stdout) as { model: string; outputs?: number[][]; error?: string }[];

    for (const [index, { fixture, engine }] of converted.entries()) {
      const result = results[index];
      assert.equal(result?.error, undefined, `${fixture.file}: Keras 3 failed: ${result?.error}`);
      const keras = (result?.outputs ?? []).flat(Infinity) as number[];
      const difference = maxAbsoluteDifference(keras, engine);
      assert.ok(difference < 1e-4, `${fixture.file}: Keras 3 and the engine differ by ${difference}`);
    }
  });

  test('float16 archives predict as the source', async (t) => {
    const folder = await temporaryFolder(t);
    const fixtures = (await formatFixtures()).filter((fixture) => fixture.model === 'float16' && fixture.format === 'h5');
    assert.equal(fixtures.length, 2, 'expected keras2/float16.h5 and keras3/float16.h5');

    const requests = [];
    const recorded = [];
    for (const fixture of fixtures) {
      const outPath = join(folder, `${fixture.file.replace('/', '_')}.keras`);
      await writeModel(await readModel(join(formatsFolder, fixture.file)), 'keras', outPath, new Map());
      const { inputs, outputs } = await readJson<Predictions>(join(formatsFolder, fixture.predictions));
      requests.push({ model: outPath, keras: 3, inputs, input_dtype: fixture.input_dtype });
      recorded.push(outputs.flat());
    }
    const requestsPath = join(folder, 'requests.json');
    await writeFile(requestsPath, JSON.stringify(requests));
    const results = JSON.parse(await runVenvPython(predictScript, ['--requests', requestsPath])) as { outputs?: number[][]; error?: string }[];

    // The Keras that saved each fixture recorded its outputs, computed in float16 with the
    // same weights, so Keras 3 loading the converted archive predicts the same values.
    for (const [index, fixture] of fixtures.entries()) {
      const result = results[index];
      assert.equal(result?.error, undefined, `${fixture.file}: Keras 3 failed: ${result?.error}`);
      assert.deepEqual((result?.outputs ?? []).flat(), recorded[index], fixture.file);
    }
  });

  test('other layer types round-trip', { timeout: 10 * 60_000 }, async (t) => {
    const folder = await temporaryFolder(t);
    const script = join(folder, 'make_models.py');
    await writeFile(script, MAKE_LAYER_MODELS_PY);
    await runVenvPython(script, [folder]);
    const cases = await readJson<{ file: string; inputs: unknown[]; outputs: number[][] }[]>(join(folder, 'cases.json'));
    assert.equal(cases.length, 3);

    const requests = [];
    for (const { file, inputs } of cases) {
      const outPath = file.replace(/\.h5$/, '.keras');
      await writeModel(await readModel(file), 'keras', outPath, new Map());
      requests.push({ model: outPath, keras: 3, inputs, input_dtype: 'float32' });
    }
    const requestsPath = join(folder, 'requests.json');
    await writeFile(requestsPath, JSON.stringify(requests));
    const results = JSON.parse(await runVenvPython(predictScript, ['--requests', requestsPath])) as { outputs?: number[][]; error?: string }[];

    for (const [index, { file, outputs }] of cases.entries()) {
      const result = results[index];
      assert.equal(result?.error, undefined, `${file}: Keras 3 failed: ${result?.error}`);
      const difference = maxAbsoluteDifference((result?.outputs ?? []).flat(), outputs.flat());
      assert.ok(difference < 1e-4, `${file}: Keras 3 and tf_keras differ by ${difference}`);
    }
  });

  test('Keras 3 compiles a converted training config', async (t) => {
    const folder = await temporaryFolder(t);
    const outPath = join(folder, 'with-optimizer.keras');
    await writeModel(await readModel(join(formatsFolder, 'keras2/with-optimizer.h5')), 'keras', outPath, new Map());
    const script = join(folder, 'compiled.py');
    await writeFile(
      script,
      [
        'import json, sys, keras',
        'model = keras.models.load_model(sys.argv[1])',
        'print(json.dumps({"optimizer": type(model.optimizer).__name__, "loss": model.loss}))',
      ].join('\n'),
    );
    const stdout = await runVenvPython(script, [outPath]);
    const compiled = JSON.parse(stdout.trim().split('\n').at(-1) as string) as { optimizer: string; loss: string };
    assert.equal(compiled.optimizer, 'Adam');
    assert.equal(compiled.loss, 'mse');
  });
});
