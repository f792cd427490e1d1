import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { fixturePath } from '@centroid/examples';
import { readModel, type WeightEntry } from '@centroid/model-io';
import { runPipeline } from '../src/index.js';
import { pipelineInput, withTempDir } from './helpers.js';

// A Keras 3 .keras archive of Conv2D, SeparableConv2D, DepthwiseConv2D and Dense layers, from model-io's fixtures.
const kerasArchive = fileURLToPath(new URL('../../model-io/test/fixtures/archive-convolutional.keras', import.meta.url));
const tinyCnn = fixturePath('tiny-cnn.h5');

const clusters = 3;

/** Asserts that every weight the report marks clustered has at most `clusters` distinct values in the written model. */
async function assertClustered(modelPath: string, clusteredWeights: string[]): Promise<void> {
  const written = await readModel(modelPath);
  assert.ok(clusteredWeights.length > 0, 'no weight was clustered');
  let checked = 0;
  for (const weight of written.weights) {
    if (clusteredWeights.includes(weight.name)) {
      assert.ok(new Set(weight.values).size <= clusters, `${weight.name} has ${new Set(weight.values).size} values`);
      checked++;
    }
  }
  assert.equal(checked, clusteredWeights.length, 'a clustered weight is missing from the written model');
}

describe('output formats', () => {
  it('returns a .keras upload as .keras', async () => {
    await withTempDir(async (dir) => {
      const result = await runPipeline(pipelineInput(kerasArchive, null, dir, { number_of_clusters: clusters, cluster_centroids_init: 'linear' }));
      assert.deepEqual(
        result.artifacts.map((artifact) => [artifact.name, artifact.contentType]),
        [
          ['model.keras', 'application/zip'],
          ['model.keras.gz', 'application/gzip'],
          ['metrics.json', 'application/json'],
        ],
      );
      const clustered = result.metrics.layers.filter((layer) => layer.clustered).map((layer) => layer.weight);
      const written = await readModel(path.join(dir, 'model.keras'));
      assert.equal(written.format, 'keras');
      // The archive stores a layer's weights by position (vars/0, vars/1), in the order that
      // the report lists them, so the nth row of a layer is its vars/n.
      for (const layer of result.metrics.layers.filter((entry) => entry.clustered)) {
        const position = result.metrics.layers.filter((entry) => entry.layer === layer.layer).indexOf(layer);
        const layerWeights: WeightEntry[] = written.weights.filter((entry: WeightEntry) => entry.layer === layer.layer);
        const weight = layerWeights[position];
        assert.ok(weight !== undefined, `${layer.weight} is missing`);
        assert.equal(weight.name, `vars/${position}`);
        assert.ok(new Set(weight.values).size <= clusters, `${layer.weight} has ${new Set(weight.values).size} values`);
      }
      assert.ok(clustered.length >= 3, `only ${clustered.length} weights were clustered`);
    });
  });

  it('writes tfjs from a .keras upload', async () => {
    await withTempDir(async (dir) => {
      const result = await runPipeline(
        pipelineInput(kerasArchive, null, dir, { number_of_clusters: clusters, cluster_centroids_init: 'linear', output_format: 'tfjs' }),
      );
      assert.deepEqual(
        result.artifacts.map((artifact) => artifact.name),
        ['model.tfjs.zip', 'model.tfjs.zip.gz', 'metrics.json'],
      );
      const written = await readModel(path.join(dir, 'model.tfjs.zip'));
      assert.equal(written.format, 'tfjs');
      assert.ok(result.metrics.size.clustered_bytes > 0);
    });
  });

  it('writes tfjs from a .h5 upload', async () => {
    await withTempDir(async (dir) => {
      const result = await runPipeline(
        pipelineInput(tinyCnn, null, dir, { number_of_clusters: clusters, cluster_centroids_init: 'linear', output_format: 'tfjs' }),
      );
      const clustered = result.metrics.layers.filter((layer) => layer.clustered).map((layer) => layer.weight.replace(/:0$/, ''));
      await assertClustered(path.join(dir, 'model.tfjs.zip'), clustered);
    });
  });

  it('converts a .keras upload into .h5', async () => {
    await withTempDir(async (dir) => {
      const result = await runPipeline(
        pipelineInput(kerasArchive, null, dir, { number_of_clusters: clusters, cluster_centroids_init: 'linear', output_format: 'keras_h5' }),
      );
      assert.deepEqual(
        result.artifacts.map((artifact) => artifact.name),
        ['model.h5', 'model.h5.gz', 'metrics.json'],
      );
      assert.equal((await readModel(path.join(dir, 'model.h5'))).format, 'keras_h5');
    });
  });

  it('converts a .h5 upload into .keras', async () => {
    await withTempDir(async (dir) => {
      const result = await runPipeline(pipelineInput(tinyCnn, null, dir, { number_of_clusters: clusters, output_format: 'keras' }));
      assert.deepEqual(
        result.artifacts.map((artifact) => artifact.name),
        ['model.keras', 'model.keras.gz', 'metrics.json'],
      );
      const written = await readModel(path.join(dir, 'model.keras'));
      assert.equal(written.format, 'keras');
      assert.equal(written.weights.length, (await readModel(tinyCnn)).weights.length);
    });
  });
});
