import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { isCentroidError } from '@centroid/contracts';

import { readTfjsModel, toLayersModel } from '../src/index.js';
import { maxAbsoluteDifference, repositoryRoot, temporaryFolder } from './helpers.js';

/** TF.js models written by the tensorflowjs 4.22 converter, from packages/examples/python/make_format_fixtures.py. */
const formatsFolder = join(repositoryRoot, 'packages', 'examples', 'fixtures', 'formats');
const TOLERANCE = 1e-4;

interface ReferencePredictions {
  inputs: number[][];
  outputs: number[][];
}

async function predictReference(fixture: string): Promise<{ actual: Float32Array; expected: Float32Array }> {
  const reference = JSON.parse(await readFile(join(formatsFolder, `${fixture}.predictions.json`), 'utf8')) as ReferencePredictions;
  const { model } = await toLayersModel(await readTfjsModel(join(formatsFolder, `${fixture}.tfjs`, 'model.json')));
  const inputShape = [reference.inputs.length, ...model.inputs[0]!.shape.slice(1)] as number[];
  const x = tf.tensor(reference.inputs.flat(Infinity) as number[], inputShape);
  const y = model.predict(x) as tf.Tensor;
  const actual = (await y.data()) as Float32Array;
  tf.dispose([x, y]);
  model.dispose();
  return { actual, expected: Float32Array.from(reference.outputs.flat(Infinity) as number[]) };
}

describe('binding converted TF.js weights', () => {
  const cases: [string, string][] = [
    ['keras2/lstm', 'Keras variable paths (lstm/lstm_cell/kernel), layers in alphabetical order'],
    ['keras2/bidirectional-lstm', 'Keras variable paths of both directions'],
    ['keras3/batch-norm', 'the model name in front of every weight name'],
    ['keras3/nested-sequential', 'the nested model name in front of its layers'],
  ];
  for (const [fixture, naming] of cases) {
    test(`${fixture} predicts as Keras (${naming})`, async () => {
      const { actual, expected } = await predictReference(fixture);

      const difference = maxAbsoluteDifference(actual, expected);
      assert.ok(difference <= TOLERANCE, `max difference ${difference} exceeds ${TOLERANCE}`);
    });
  }

  test('weight under no layer name is rejected', async (t) => {
    const folder = await temporaryFolder(t);
    const source = join(formatsFolder, 'keras2', 'lstm.tfjs');
    const modelJson = JSON.parse(await readFile(join(source, 'model.json'), 'utf8')) as {
      weightsManifest: { paths: string[]; weights: { name: string }[] }[];
    };
    modelJson.weightsManifest[0]!.weights[0]!.name = 'unknown/kernel';
    await writeFile(join(folder, 'model.json'), JSON.stringify(modelJson));
    for (const shard of modelJson.weightsManifest.flatMap((group) => group.paths)) {
      await copyFile(join(source, shard), join(folder, shard));
    }

    await assert.rejects(toLayersModel(await readTfjsModel(join(folder, 'model.json'))), (error: unknown) => {
      assert.ok(isCentroidError(error), `expected a CentroidError, got ${String(error)}`);
      assert.equal(error.code, 'MODEL_WEIGHTS_MISMATCH');
      assert.match(error.message, /weight "unknown\/kernel" of the weights manifest/);
      return true;
    });
  });
});
