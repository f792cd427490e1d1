// Checks the layer and weight names of the per-layer report in every model format. Each
// row names the layer that owns the weight (the inner layer for nested models) and the
// weight as `<layer>/<weight>`, whatever names the file stores.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fixturePath } from '@centroid/examples';
import { packTfjsModel } from '@centroid/model-io';
import { runPipeline } from '../src/index.js';
import { pipelineInput, withTempDir } from './helpers.js';

/** The rows of the batch-norm fixture: Dense, BatchNormalization, Dense. */
const BATCH_NORM_ROWS = [
  ['dense_a', 'dense_a/kernel'],
  ['dense_a', 'dense_a/bias'],
  ['norm', 'norm/gamma'],
  ['norm', 'norm/beta'],
  ['norm', 'norm/moving_mean'],
  ['norm', 'norm/moving_variance'],
  ['dense_b', 'dense_b/kernel'],
  ['dense_b', 'dense_b/bias'],
];

/** The rows of the nested-sequential fixture: a Sequential model `inner` of two Dense layers, then Dense `head`. */
const NESTED_ROWS = [
  ['inner_dense', 'inner_dense/kernel'],
  ['inner_dense', 'inner_dense/bias'],
  ['inner_out', 'inner_out/kernel'],
  ['inner_out', 'inner_out/bias'],
  ['head', 'head/kernel'],
  ['head', 'head/bias'],
];

interface Case {
  label: string;
  /** The model file under packages/examples/fixtures, or a TF.js folder there to zip first. */
  file: string;
  expected: string[][];
}

const CASES: Case[] = [
  { label: 'Keras 2 .h5', file: 'formats/keras2/batch-norm.h5', expected: BATCH_NORM_ROWS },
  { label: 'Keras 3 .h5', file: 'formats/keras3/batch-norm.h5', expected: BATCH_NORM_ROWS },
  { label: '.keras', file: 'formats/keras3/batch-norm.keras', expected: BATCH_NORM_ROWS },
  { label: 'TF.js', file: 'formats/keras3/batch-norm.tfjs', expected: BATCH_NORM_ROWS },
  { label: 'nested Keras 2 .h5', file: 'formats/keras2/nested-sequential.h5', expected: NESTED_ROWS },
  { label: 'nested .keras', file: 'formats/keras3/nested-sequential.keras', expected: NESTED_ROWS },
  { label: 'nested TF.js', file: 'formats/keras2/nested-sequential.tfjs', expected: NESTED_ROWS },
];

describe('layer report names', () => {
  for (const { label, file, expected } of CASES) {
    it(`names inner layers of ${label}`, async () => {
      await withTempDir(async (dir) => {
        let modelPath = fixturePath(file);
        if (file.endsWith('.tfjs')) {
          modelPath = path.join(dir, 'input.tfjs.zip');
          await packTfjsModel(fixturePath(file), modelPath);
        }
        const messages: string[] = [];
        const result = await runPipeline(pipelineInput(modelPath, null, path.join(dir, 'out'), { number_of_clusters: 4, fine_tune: { epochs: 0 } }), {
          onLog: (_level, message) => messages.push(message),
        });

        assert.deepEqual(
          result.metrics.layers.map((row) => [row.layer, row.weight]),
          expected,
        );
        const skipped = messages.filter((message) => message.startsWith('weight not clustered: '));
        assert.ok(skipped.length > 0, 'no weight was logged as not clustered');
        for (const message of skipped) {
          const name = message.slice('weight not clustered: '.length).split(': ')[0]!;
          assert.ok(
            expected.some(([, weight]) => weight === name),
            `"${message}" names ${name}, which is not a reported weight`,
          );
        }
      });
    });
  }

  it('names the inner layers of layer-mix.h5', async () => {
    await withTempDir(async (dir) => {
      const result = await runPipeline(pipelineInput(fixturePath('layer-mix.h5'), null, dir, { number_of_clusters: 4, fine_tune: { epochs: 0 } }));
      const rows = result.metrics.layers.map((row) => [row.layer, row.weight]);

      assert.ok(rows.some(([layer, weight]) => layer === 'head_dense' && weight === 'head_dense/kernel'), JSON.stringify(rows));
      assert.ok(rows.some(([layer, weight]) => layer === 'head_out' && weight === 'head_out/kernel'), JSON.stringify(rows));
      assert.ok(!rows.some(([layer]) => layer === 'head'), 'a row names the nested model head');
    });
  });
});
