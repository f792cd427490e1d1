import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { unzipSync, zipSync } from 'fflate';

import { isCentroidError } from '@centroid/contracts';

import { inspectModelFile, readKerasArchive, writeTfjsModel } from '../src/index.js';
import { fixture, temporaryFolder } from './helpers.js';

import type { ErrorCode } from '@centroid/contracts';

interface ExpectedModel {
  kerasVersion: string;
  layerNames: string[];
  weights: { shape: number[] }[];
}

const expectedModels: Record<string, ExpectedModel> = JSON.parse(await readFile(fixture('expected-weights.json'), 'utf8'));

async function assertRejects(path: string, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(inspectModelFile(path), (error: unknown) => {
    assert.ok(isCentroidError(error), `expected a CentroidError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('inspectModelFile', () => {
  for (const name of ['dense-adam.h5', 'functional-cnn.h5', 'recurrent.h5', 'nested.h5', 'keras3-sequential.h5']) {
    test(`summarises ${name}`, async () => {
      const expected = expectedModels[name] as ExpectedModel;
      const summary = await inspectModelFile(fixture(name));

      assert.equal(summary.format, 'keras_h5');
      assert.equal(summary.tfjsShardPaths, null);
      assert.equal(summary.kerasVersion, expected.kerasVersion);
      assert.equal(summary.layerCount, expected.layerNames.length);
      assert.equal(summary.weightCount, expected.weights.length);
      const parameterCount = expected.weights.reduce((sum, weight) => sum + weight.shape.reduce((product, size) => product * size, 1), 0);
      assert.equal(summary.parameterCount, parameterCount);
    });
  }

  test('counts Keras parameters of the CNN', async () => {
    // tf_keras 2.18 reports 391 parameters and 14 layers for this model.
    const summary = await inspectModelFile(fixture('functional-cnn.h5'));

    assert.equal(summary.parameterCount, 391);
    assert.equal(summary.layerCount, 14);
  });

  test('lists layers TF.js cannot build', async () => {
    const path = fixture('unsupported.h5');

    await assertRejects(path, 'MODEL_LAYER_UNSUPPORTED', /unsupported\.h5: 3 layer\(s\) cannot be built in TF\.js/);
    await assertRejects(path, 'MODEL_LAYER_UNSUPPORTED', /layer "double" \(Lambda\): TF\.js has no layer of this class/);
    await assertRejects(path, 'MODEL_LAYER_UNSUPPORTED', /layer "grouped_conv" \(Conv2D\)/);
    await assertRejects(path, 'MODEL_LAYER_UNSUPPORTED', /layer "leaky_relu" \(ReLU\)/);
    await assert.rejects(inspectModelFile(path), (error: unknown) => isCentroidError(error) && !error.message.includes('gru_reset_after'));
  });

  test('lists unsupported layer arguments', async () => {
    const path = fixture('unsupported-arguments.h5');

    await assertRejects(path, 'MODEL_LAYER_UNSUPPORTED', /unsupported-arguments\.h5: 2 layer\(s\) cannot be built in TF\.js/);
    await assertRejects(path, 'MODEL_LAYER_UNSUPPORTED', /layer "activity" \(Dense\): activity_regularizer/);
    await assertRejects(path, 'MODEL_LAYER_UNSUPPORTED', /layer "orthogonal" \(Dense\): kernel_regularizer OrthogonalRegularizer/);
  });

  test('accepts translated regularizers', async () => {
    const summary = await inspectModelFile(fixture('regularized.h5'));

    assert.equal(summary.weightCount, 4);
  });

  test('rejects a model without weights', async () => {
    await assertRejects(fixture('no-weights.h5'), 'MODEL_INVALID', /no-weights\.h5 contains no weight tensors/);
  });

  test('rejects a zip that is not a model', async () => {
    await assertRejects(fixture('arrays-deflated.npz'), 'MODEL_FORMAT_UNSUPPORTED', /arrays-deflated\.npz is a zip archive but neither a Keras 3 \.keras archive/);
  });

  test('summarises a .keras archive', async () => {
    const summary = await inspectModelFile(fixture('archive-convolutional.keras'));

    assert.equal(summary.format, 'keras');
    assert.equal(summary.layerCount, 7);
    assert.equal(summary.weightCount, 11);
    assert.deepEqual(
      summary.weights.filter((weight) => weight.layer === 'separable').map((weight) => weight.name),
      ['separable/depthwise_kernel', 'separable/pointwise_kernel', 'separable/bias'],
    );
  });

  test('names nested .keras variables by top-level layer', async () => {
    const summary = await inspectModelFile(fixture('archive-recurrent.keras'));
    const block = summary.weights.filter((weight) => weight.layer === 'block').map((weight) => weight.name);

    assert.deepEqual(block, [
      'inner_dense/kernel',
      'inner_dense/bias',
      'inner_bn/gamma',
      'inner_bn/beta',
      'inner_bn/moving_mean',
      'inner_bn/moving_variance',
    ]);
  });

  test('summarises a zipped TF.js model', async (t) => {
    const path = join(await temporaryFolder(t), 'model.tfjs.zip');
    await writeTfjsModel(await readKerasArchive(fixture('archive-recurrent.keras')), path, new Map());
    const summary = await inspectModelFile(path, 'upload.zip');

    assert.equal(summary.format, 'tfjs');
    assert.equal(summary.weightCount, 26);
    assert.deepEqual(summary.tfjsShardPaths, ['group1-shard1of1.bin']);
    assert.ok(summary.weights.some((weight) => weight.layer === 'block' && weight.name === 'inner_dense/kernel'));
  });

  test('rejects a TF.js zip with a short shard', async (t) => {
    const folder = await temporaryFolder(t);
    const path = join(folder, 'model.tfjs.zip');
    await writeTfjsModel(await readKerasArchive(fixture('archive-float16.keras')), path, new Map());
    const members = unzipSync(new Uint8Array(await readFile(path)));
    members['group1-shard1of1.bin'] = (members['group1-shard1of1.bin'] as Uint8Array).subarray(2);
    const broken = join(folder, 'broken.zip');
    await writeFile(broken, zipSync(members));
    await assertRejects(broken, 'MODEL_INVALID', /hold \d+ bytes, but its weights need \d+ bytes/);
  });

  test('rejects a truncated file', async (t) => {
    const whole = await readFile(fixture('tiny-cnn.h5'));
    const path = join(await temporaryFolder(t), 'tiny-cnn.h5');
    await writeFile(path, whole.subarray(0, whole.length - 100));
    await assertRejects(path, 'MODEL_INVALID', /tiny-cnn\.h5 is truncated/);
  });

  test('rejects a weights-only file', async () => {
    await assertRejects(fixture('weights-only.h5'), 'MODEL_INVALID', /weights-only file/);
  });

  test('rejects a config that is not JSON', async () => {
    await assertRejects(fixture('config-not-json.h5'), 'MODEL_INVALID', /model_config attribute is not valid JSON/);
  });
});
