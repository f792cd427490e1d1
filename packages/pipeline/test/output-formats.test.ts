import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { CentroidError } from '@centroid/contracts';
import { fixturePath } from '@centroid/examples';
import { readModel } from '@centroid/model-io';
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
      const byPath = new Map(written.weights.map((weight) => [`${weight.layer}/${weight.name}`, weight]));
      for (const layer of result.metrics.layers.filter((entry) => entry.clustered)) {
        const weight = byPath.get(`${layer.layer}/${layer.weight}`);
        assert.ok(weight !== undefined, `${layer.layer}/${layer.weight} is missing`);
        assert.ok(new Set(weight.values).size <= clusters, `${layer.layer}/${layer.weight} has ${new Set(weight.values).size} values`);
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

  it('rejects .h5 into .keras before clustering', async () => {
    await withTempDir(async (dir) => {
      await assert.rejects(
        runPipeline(pipelineInput(tinyCnn, null, dir, { number_of_clusters: clusters, output_format: 'keras' })),
        (error: unknown) => {
          assert.ok(error instanceof CentroidError);
          assert.equal(error.code, 'PARAMS_INVALID');
          assert.equal(error.location.field, 'output_format');
          assert.match(error.message, /a Keras 3 archive \(\.keras\) is written only from an upload of that format/);
          return true;
        },
      );
    });
  });
});
