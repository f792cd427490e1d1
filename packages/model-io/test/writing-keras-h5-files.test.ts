import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { isCentroidError } from '@centroid/contracts';

import { readKerasH5, readNpy, readNpz, toLayersModel, writeKerasH5 } from '../src/index.js';
import { float16ToFloat32, float32ToFloat16 } from '../src/float16.js';
import { fixture, maxAbsoluteDifference, pythonSkipReason, runPython, snapshotHdf5, temporaryFolder } from './helpers.js';

import type { TestContext } from 'node:test';
import type { KerasModelFile, WeightEntry } from '../src/index.js';

/** Stands in for clustering: rounds every value to the nearest multiple of `step`, so each tensor changes. */
function quantise(values: Float32Array, step = 0.125): Float32Array {
  return values.map((value) => Math.round(value / step) * step);
}

/** Replaces every kernel of the model with quantised values. */
function replaceKernels(file: KerasModelFile): Map<string, Float32Array> {
  return new Map(
    file.weights.filter((weight) => /kernel/.test(weight.name)).map((weight) => [weight.datasetPath, quantise(weight.values)]),
  );
}

async function writeClustered(t: TestContext, name: string): Promise<{
  source: KerasModelFile;
  outPath: string;
  replacements: Map<string, Float32Array>;
  warnings: { code: string; message: string }[];
}> {
  const source = await readKerasH5(fixture(name));
  const replacements = replaceKernels(source);
  assert.ok(replacements.size > 0, `${name} has no kernel to replace`);
  const outPath = join(await temporaryFolder(t), name);
  const { warnings } = await writeKerasH5(source, outPath, replacements);
  return { source, outPath, replacements, warnings };
}

/** Asserts that every dataset and attribute outside `ignoredPrefix` and the replaced datasets is unchanged. */
async function assertOthersUnchanged(inputPath: string, outputPath: string, replaced: Set<string>, ignoredPrefix?: string): Promise<void> {
  const input = await snapshotHdf5(inputPath);
  const output = await snapshotHdf5(outputPath);
  const kept = (path: string) => ignoredPrefix === undefined || !path.startsWith(ignoredPrefix);

  let compared = 0;
  for (const [path, bytes] of input.datasets) {
    if (!kept(path) || replaced.has(path)) {
      continue;
    }
    assert.ok(output.datasets.has(path), `${path} is missing from the output`);
    assert.ok(Buffer.from(bytes).equals(Buffer.from(output.datasets.get(path) as Uint8Array)), `${path} changed`);
    compared++;
  }
  assert.ok(compared > 0, 'no dataset was compared');

  for (const [key, value] of input.attributes) {
    if (kept(key)) {
      assert.deepEqual(output.attributes.get(key), value, `attribute ${key} changed`);
    }
  }
  const outputKeys = [...output.datasets.keys(), ...output.attributes.keys()].filter(kept).sort();
  const inputKeys = [...input.datasets.keys(), ...input.attributes.keys()].filter(kept).sort();
  assert.deepEqual(outputKeys, inputKeys, 'the output has different datasets or attributes');
}

function assertReplaced(written: WeightEntry[], replacements: Map<string, Float32Array>, convert = (values: Float32Array) => values): void {
  for (const weight of written) {
    const expected = replacements.get(weight.datasetPath);
    if (expected !== undefined) {
      assert.deepEqual(Array.from(weight.values), Array.from(convert(expected)), `${weight.datasetPath} was not replaced`);
    }
  }
}

describe('writeKerasH5', () => {
  test('overwrites only replaced datasets', async (t) => {
    const { source, outPath, replacements, warnings } = await writeClustered(t, 'tiny-cnn.h5');

    assert.deepEqual(warnings, []);
    assertReplaced((await readKerasH5(outPath)).weights, replacements);
    await assertOthersUnchanged(source.path, outPath, new Set(replacements.keys()));

    const input = await readFile(source.path);
    const output = await readFile(outPath);
    assert.equal(output.length, input.length);
    let changedBytes = 0;
    input.forEach((byte, index) => {
      changedBytes += byte === output[index] ? 0 : 1;
    });
    const replacedBytes = [...replacements.values()].reduce((sum, values) => sum + values.byteLength, 0);
    assert.ok(changedBytes > 0, 'no byte changed');
    assert.ok(changedBytes <= replacedBytes, `${changedBytes} bytes changed, more than the ${replacedBytes} replaced`);
  });

  test('drops optimizer state and shrinks the file', async (t) => {
    const { source, outPath, replacements, warnings } = await writeClustered(t, 'dense-adam.h5');
    const written = await readKerasH5(outPath);

    assert.deepEqual(
      warnings.map((warning) => warning.code),
      ['OPTIMIZER_STATE_DROPPED'],
    );
    assert.match(warnings[0]?.message ?? '', /optimizer_weights\) of dense-adam\.h5 was dropped/);
    assert.equal(written.hasOptimizerState, false);
    assert.deepEqual(written.trainingConfig, source.trainingConfig);
    assertReplaced(written.weights, replacements);
    await assertOthersUnchanged(source.path, outPath, new Set(replacements.keys()), '/optimizer_weights');

    const outputBytes = (await stat(outPath)).size;
    const h5pyWithoutOptimizer = (await stat(fixture('dense-adam.no-optimizer.h5'))).size;
    assert.ok(
      outputBytes <= h5pyWithoutOptimizer,
      `output has ${outputBytes} bytes, more than the ${h5pyWithoutOptimizer} bytes h5py writes without optimizer state`,
    );
  });

  test('keeps optimizer state it cannot rewrite', async (t) => {
    const { source, outPath, replacements, warnings } = await writeClustered(t, 'float16-adam.h5');
    const written = await readKerasH5(outPath);

    assert.deepEqual(
      warnings.map((warning) => warning.code),
      ['OPTIMIZER_STATE_KEPT'],
    );
    assert.match(warnings[0]?.message ?? '', /float16 values, which h5wasm cannot create/);
    assert.equal(written.hasOptimizerState, true);
    await assertOthersUnchanged(source.path, outPath, new Set(replacements.keys()));
  });

  test('rounds float16 replacements', async (t) => {
    const { source, outPath, replacements } = await writeClustered(t, 'float16.h5');
    const written = await readKerasH5(outPath);

    assertReplaced(written.weights, replacements, (values) => float16ToFloat32(float32ToFloat16(values)));
    assert.ok(written.weights.every((weight) => weight.dtype === 'float16'));
    await assertOthersUnchanged(source.path, outPath, new Set(replacements.keys()));
  });

  test('stores float64 replacements exactly', async (t) => {
    const { source, outPath, replacements } = await writeClustered(t, 'float64.h5');
    const output = await snapshotHdf5(outPath);

    for (const [path, values] of replacements) {
      const bytes = output.datasets.get(path) as Uint8Array;
      const stored = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      assert.deepEqual(Array.from(stored), Array.from(values), path);
    }
    await assertOthersUnchanged(source.path, outPath, new Set(replacements.keys()));
  });

  test('keeps fixed-length string attributes', async (t) => {
    const { source, outPath, replacements } = await writeClustered(t, 'fixed-length-strings.h5');

    await assertOthersUnchanged(source.path, outPath, new Set(replacements.keys()));
  });

  test('keeps the user block', async (t) => {
    const { source, outPath } = await writeClustered(t, 'userblock.h5');
    const input = await readFile(source.path);
    const output = await readFile(outPath);

    assert.ok(input.subarray(0, 512).equals(output.subarray(0, 512)));
  });
});

describe('writeKerasH5 bad input', () => {
  test('rejects an unknown dataset path', async (t) => {
    const source = await readKerasH5(fixture('small.h5'));
    const outPath = join(await temporaryFolder(t), 'out.h5');

    await assert.rejects(writeKerasH5(source, outPath, new Map([['/model_weights/nope:0', new Float32Array(2)]])), (error: unknown) => {
      assert.ok(isCentroidError(error));
      assert.equal(error.code, 'MODEL_WEIGHTS_MISMATCH');
      assert.match(error.message, /small\.h5: a replacement was given for \/model_weights\/nope:0, which is not a weight dataset/);
      return true;
    });
    assert.equal(existsSync(outPath), false);
  });

  test('rejects a wrong value count', async (t) => {
    const source = await readKerasH5(fixture('small.h5'));
    const kernel = source.weights[0] as WeightEntry;
    const outPath = join(await temporaryFolder(t), 'out.h5');

    await assert.rejects(writeKerasH5(source, outPath, new Map([[kernel.datasetPath, new Float32Array(5)]])), (error: unknown) => {
      assert.ok(isCentroidError(error));
      assert.equal(error.code, 'MODEL_WEIGHTS_MISMATCH');
      assert.match(error.message, /replacement for weight "dense\/kernel:0" of layer "dense" has 5 values; expected 6 for shape \[3, 2\]/);
      return true;
    });
    assert.equal(existsSync(outPath), false);
  });

  test('rejects a source that changed', async (t) => {
    const folder = await temporaryFolder(t);
    const sourcePath = join(folder, 'model.h5');
    await writeFile(sourcePath, await readFile(fixture('small.h5')));
    const source = await readKerasH5(sourcePath);
    await writeFile(sourcePath, await readFile(fixture('tiny-cnn.h5')));
    const kernel = source.weights[0] as WeightEntry;

    await assert.rejects(writeKerasH5(source, join(folder, 'out.h5'), new Map([[kernel.datasetPath, kernel.values]])), (error: unknown) => {
      assert.ok(isCentroidError(error));
      assert.equal(error.code, 'MODEL_WEIGHTS_MISMATCH');
      assert.match(error.message, /model\.h5: dataset \/model_weights\/dense\/dense\/kernel:0 was not found; the file changed after it was read/);
      return true;
    });
  });
});

describe('writeKerasH5 output in Keras', { skip: pythonSkipReason() }, () => {
  test('loads and predicts as TF.js does', async (t) => {
    const folder = await temporaryFolder(t);
    const names = ['tiny-cnn', 'dense-adam', 'functional-cnn', 'nested', 'recurrent', 'separable', 'float64', 'float16-adam'];
    const requests = [];
    const tfjsPredictions = new Map<string, Float32Array>();

    for (const name of names) {
      const source = await readKerasH5(fixture(`${name}.h5`));
      const outPath = join(folder, `${name}.h5`);
      await writeKerasH5(source, outPath, replaceKernels(source));

      const { model } = await toLayersModel(await readKerasH5(outPath));
      const x = (await readNpz(fixture(`${name}.io.npz`), { arrays: ['x'] })).get('x');
      assert.ok(x !== undefined);
      const input = tf.tensor(x.data as Float32Array, x.shape);
      const output = model.predict(input) as tf.Tensor;
      tfjsPredictions.set(name, (await output.data()) as Float32Array);
      tf.dispose([input, output]);
      model.dispose();

      requests.push({ model: outPath, inputs: fixture(`${name}.io.npz`), output: join(folder, `${name}.keras.npy`), compile: name === 'dense-adam' });
    }

    const requestsPath = join(folder, 'requests.json');
    await writeFile(requestsPath, JSON.stringify(requests));
    const report = (await runPython('keras_predict.py', [requestsPath])).trim().split('\n').map((line) => JSON.parse(line));

    assert.equal(report.length, names.length);
    assert.equal(report.find((line) => line.model.endsWith('dense-adam.h5'))?.optimizer, 'Adam');
    for (const name of names) {
      const keras = await readNpy(join(folder, `${name}.keras.npy`));
      // float16-adam computes in float16 in Keras and in float32 in TF.js.
      const tolerance = name === 'float16-adam' ? 1e-2 : 1e-4;
      const difference = maxAbsoluteDifference(tfjsPredictions.get(name) as Float32Array, keras.data as Float32Array);
      assert.ok(difference <= tolerance, `${name}: Keras and TF.js differ by ${difference}`);
    }
  });
});
