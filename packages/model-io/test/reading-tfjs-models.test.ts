import assert from 'node:assert/strict';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';
import { zipSync } from 'fflate';

import { isCentroidError } from '@centroid/contracts';

import { readTfjsModel, toLayersModel, writeTfjsModel } from '../src/index.js';
import { float16ToFloat32, float32ToFloat16 } from '../src/float16.js';
import { writeTestZip } from './archive-helpers.js';
import { maxAbsoluteDifference, temporaryFolder } from './helpers.js';
import { loadTfjsZip, predictValues, saveTfjsFolder } from './tfjs-helpers.js';

import type { TestContext } from 'node:test';

function buildModel(): tf.LayersModel {
  const model = tf.sequential({ name: 'small' });
  model.add(tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, name: 'conv' }));
  model.add(tf.layers.batchNormalization({ name: 'bn' }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ units: 4, name: 'dense', kernelInitializer: 'randomNormal' }));
  return model;
}

/** Saves a fresh model into a folder split over shards of 256 bytes and returns the model, folder and model.json. */
async function savedModel(t: TestContext) {
  const model = buildModel();
  const folder = join(await temporaryFolder(t), 'model');
  const modelJson = await saveTfjsFolder(model, folder, 256);
  return { model, folder, modelJson };
}

async function zipFolder(folder: string, names: string[], outPath: string): Promise<void> {
  const members: Record<string, Uint8Array> = {};
  for (const name of names) {
    members[name] = new Uint8Array(await readFile(join(folder, name)));
  }
  await writeTestZip(outPath, members, true);
}

function shardNames(modelJson: Record<string, unknown>): string[] {
  return (modelJson.weightsManifest as { paths: string[] }[]).flatMap((group) => group.paths);
}

async function assertRejects(path: string, code: string, message: RegExp): Promise<void> {
  await assert.rejects(readTfjsModel(path, 'upload'), (error) => {
    assert.ok(isCentroidError(error), String(error));
    assert.equal(error.code, code);
    assert.match(error.message, message);
    assert.equal(error.location.file, 'upload');
    return true;
  });
}

async function assertPredictsLike(original: tf.LayersModel, path: string): Promise<void> {
  const file = await readTfjsModel(path);
  const { model } = await toLayersModel(file);
  const x = tf.randomNormal([2, 6, 6, 2], 0, 1, 'float32', 1);
  const difference = maxAbsoluteDifference(await predictValues(model, x), await predictValues(original, x));
  tf.dispose(x);
  model.dispose();
  assert.ok(difference < 1e-6, `predictions differ by ${difference}`);
}

describe('reading TF.js layers models', () => {
  test('folder with several shards', async (t) => {
    const { model, folder, modelJson } = await savedModel(t);
    assert.ok(shardNames(modelJson).length > 1, 'the model should span several shards');
    await assertPredictsLike(model, folder);
  });

  test('lone model.json beside its shards', async (t) => {
    const { model, folder } = await savedModel(t);
    await assertPredictsLike(model, join(folder, 'model.json'));
  });

  test('zip of model.json and shards', async (t) => {
    const { model, folder, modelJson } = await savedModel(t);
    const zipPath = join(folder, '..', 'model.zip');
    await zipFolder(folder, ['model.json', ...shardNames(modelJson)], zipPath);
    await assertPredictsLike(model, zipPath);
    const file = await readTfjsModel(zipPath);
    assert.equal(file.format, 'tfjs');
    assert.equal(file.container, 'zip');
    assert.equal(file.weights.length, 8);
  });

  test('float16 quantized weights', async (t) => {
    const model = buildModel();
    const folder = join(await temporaryFolder(t), 'half');
    const modelJson = await saveTfjsFolder(model, folder);
    const group = (modelJson.weightsManifest as { paths: string[]; weights: { quantization?: unknown }[] }[])[0]!;
    const full = new Float32Array((await readFile(join(folder, group.paths[0]!))).buffer.slice(0));
    await writeFile(join(folder, group.paths[0]!), float32ToFloat16(full));
    for (const weight of group.weights) {
      weight.quantization = { dtype: 'float16' };
    }
    await writeFile(join(folder, 'model.json'), JSON.stringify(modelJson));

    const file = await readTfjsModel(folder);
    assert.ok(file.weights.every((weight) => weight.dtype === 'float16'));
    const concatenated = new Float32Array(file.weights.flatMap((weight) => Array.from(weight.values)));
    assert.deepEqual(Array.from(concatenated), Array.from(float16ToFloat32(float32ToFloat16(full))));
  });
});

describe('rejecting bad TF.js models', () => {
  test('model.json that is not JSON', async (t) => {
    const { folder } = await savedModel(t);
    await writeFile(join(folder, 'model.json'), '{"modelTopology": ');
    await assertRejects(folder, 'MODEL_INVALID', /model\.json is not valid UTF-8 JSON/);
  });

  test('model.json above the size limit', async (t) => {
    const path = join(await temporaryFolder(t), 'huge.zip');
    await writeFile(path, zipSync({ 'model.json': [new Uint8Array(65 * 1024 * 1024).fill(0x20), { level: 9 }] }));
    await assertRejects(path, 'MODEL_INVALID', /model\.json has 68157440 bytes, more than the limit/);
  });

  test('zip above the expansion cap', async (t) => {
    const { folder, modelJson } = await savedModel(t);
    const zipPath = join(folder, '..', 'model.zip');
    await zipFolder(folder, ['model.json', ...shardNames(modelJson)], zipPath);
    await assert.rejects(readTfjsModel(zipPath, 'upload', { maxExpandedBytes: 500 }), (error) => {
      assert.ok(isCentroidError(error), String(error));
      assert.equal(error.code, 'MODEL_INVALID');
      assert.match(error.message, /upload is not a valid zipped TF\.js layers model: its members declare \d+ bytes uncompressed, more than the limit of 500 bytes/);
      return true;
    });
  });

  test('truncated shard', async (t) => {
    const { folder, modelJson } = await savedModel(t);
    const last = shardNames(modelJson).at(-1) as string;
    const bytes = await readFile(join(folder, last));
    await writeFile(join(folder, last), bytes.subarray(0, bytes.length - 4));
    await assertRejects(folder, 'MODEL_INVALID', /hold \d+ bytes, but its weights need \d+ bytes/);
  });

  test('missing shard', async (t) => {
    const { folder, modelJson } = await savedModel(t);
    await rm(join(folder, shardNames(modelJson)[0] as string));
    await assertRejects(folder, 'MODEL_INVALID', /the weight shard "group1-shard1of\d+\.bin" that model\.json lists is missing/);
  });

  test('shard under another name', async (t) => {
    const { folder, modelJson } = await savedModel(t);
    const shard = shardNames(modelJson)[0] as string;
    await rename(join(folder, shard), join(folder, 'wrongname.bin'));
    await assertRejects(folder, 'MODEL_INVALID', /not in its weights manifest: "wrongname\.bin"\. Name each shard as model\.json lists it/);
  });

  test('shard path outside the folder', async (t) => {
    const { folder, modelJson } = await savedModel(t);
    (modelJson.weightsManifest as { paths: string[] }[])[0]!.paths[0] = '../../etc/passwd';
    await writeFile(join(folder, 'model.json'), JSON.stringify(modelJson));
    await assertRejects(folder, 'MODEL_INVALID', /shard path "\.\.\/\.\.\/etc\/passwd".*"\.\." segment/);
  });

  test('zip member with a parent segment', async (t) => {
    const { folder, modelJson } = await savedModel(t);
    const path = join(folder, '..', 'evil.zip');
    const members: Record<string, Uint8Array> = { '../model.json': new Uint8Array(await readFile(join(folder, 'model.json'))) };
    for (const shard of shardNames(modelJson)) {
      members[shard] = new Uint8Array(await readFile(join(folder, shard)));
    }
    await writeTestZip(path, members);
    await assertRejects(path, 'MODEL_INVALID', /"\.\.\/model\.json" is rejected because the name contains a "\.\." segment/);
  });

  test('graph model', async (t) => {
    const folder = await temporaryFolder(t);
    await writeFile(join(folder, 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology: {}, weightsManifest: [] }));
    await assertRejects(folder, 'MODEL_FORMAT_UNSUPPORTED', /TF\.js graph model/);
  });

  test('int32 weights', async (t) => {
    const { folder, modelJson } = await savedModel(t);
    const weights = (modelJson.weightsManifest as { weights: Record<string, unknown>[] }[])[0]!.weights;
    weights[0]!.dtype = 'int32';
    await writeFile(join(folder, 'model.json'), JSON.stringify(modelJson));
    await assertRejects(folder, 'MODEL_LAYER_UNSUPPORTED', /weight "conv\/kernel" is stored as int32/);
  });
});

describe('uint8 and uint16 quantized TF.js weights', () => {
  /** Quantizes every weight of a saved model to `dtype` with scale 0.01 and min -1, rewriting shards and manifest. */
  async function quantizedModel(t: TestContext, dtype: 'uint8' | 'uint16') {
    const model = buildModel();
    const folder = join(await temporaryFolder(t), dtype);
    const modelJson = await saveTfjsFolder(model, folder);
    const group = (modelJson.weightsManifest as { paths: string[]; weights: { quantization?: unknown }[] }[])[0]!;
    const values = new Float32Array((await readFile(join(folder, group.paths[0]!))).buffer.slice(0));
    const toCode = (value: number) => Math.min(dtype === 'uint8' ? 255 : 65535, Math.max(0, Math.round((value + 1) / 0.01)));
    const codes = dtype === 'uint8' ? Uint8Array.from(values, toCode) : Uint16Array.from(values, toCode);
    await writeFile(join(folder, group.paths[0]!), new Uint8Array(codes.buffer));
    for (const weight of group.weights) {
      weight.quantization = { dtype, scale: 0.01, min: -1 };
    }
    await writeFile(join(folder, 'model.json'), JSON.stringify(modelJson));
    return { folder, codes };
  }

  for (const dtype of ['uint8', 'uint16'] as const) {
    test(`${dtype} codes decode as TF.js does`, async (t) => {
      const { folder, codes } = await quantizedModel(t, dtype);
      const file = await readTfjsModel(folder);
      const concatenated = file.weights.flatMap((weight) => Array.from(weight.values));
      assert.equal(concatenated.length, codes.length);
      codes.forEach((code, index) => {
        assert.ok(Math.abs((concatenated[index] as number) - Math.fround(code * 0.01 - 1)) < 1e-6, `value ${index}`);
      });
    });
  }

  test('replaced weights are quantized again', async (t) => {
    const { folder } = await quantizedModel(t, 'uint8');
    const source = await readTfjsModel(folder);
    const kernel = source.weights.find((weight) => weight.name === 'dense/kernel');
    assert.ok(kernel !== undefined);
    const clustered = kernel.values.map((value) => (value < 0 ? -0.5 : 0.75));
    const outPath = join(folder, '..', 'out.zip');
    await writeTfjsModel(source, outPath, new Map([[kernel.datasetPath, clustered]]));

    const written = await readTfjsModel(outPath);
    const writtenKernel = written.weights.find((weight) => weight.name === 'dense/kernel');
    assert.deepEqual([...new Set(writtenKernel?.values)].sort(), [-0.5, 0.75]);
    const spec = written.weightGroups[0]?.weights.find((weight) => weight.name === 'dense/kernel');
    assert.equal(spec?.affine?.dtype, 'uint8');
    assert.equal(spec?.affine?.min, -0.5);
    const untouched = written.weights.find((weight) => weight.name === 'conv/kernel');
    assert.deepEqual(Array.from(untouched?.values ?? []), Array.from(source.weights.find((weight) => weight.name === 'conv/kernel')?.values ?? []));

    const loaded = await loadTfjsZip(outPath);
    const loadedKernel = loaded.getLayer('dense').getWeights()[0] as tf.Tensor;
    assert.deepEqual([...new Set(await loadedKernel.data())].sort(), [-0.5, 0.75]);
    loaded.dispose();
  });
});
