import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { CentroidError, JobParamsSchema, decideLayers, describeModelLayers, type JobParamsInput, type LayerReport } from '@centroid/contracts';
import { selectBackend, selectWeights } from '@centroid/engine';
import { fixturePath, pythonScriptPath, venvPythonPath } from '@centroid/examples';
import { inspectModelFile, readKerasH5, readNpy, toLayersModel } from '@centroid/model-io';
import { runPipeline } from '../src/index.js';
import { bitsOf, pipelineInput, withTempDir, writeNpz } from './helpers.js';

const run = promisify(execFile);
const python = venvPythonPath();
const skipKeras = python === undefined ? 'no .venv at the repository root; run pnpm setup:python' : false;

/** Conv2D, DepthwiseConv2D, BatchNormalization, SeparableConv2D, TimeDistributed(Dense), a nested Sequential and a 6-weight Dense. */
const layerMix = fixturePath('layer-mix.h5');

function reportOf(layers: LayerReport[], weight: string): LayerReport {
  const found = layers.find((layer) => layer.weight === weight);
  assert.ok(found, `no report for ${weight}: ${layers.map((layer) => layer.weight).join(', ')}`);
  return found;
}

describe('runPipeline with layers rules', () => {
  it('applies per-layer rules and reports each N', async () => {
    await withTempDir(async (dir) => {
      const result = await runPipeline(
        pipelineInput(layerMix, null, dir, {
          number_of_clusters: 8,
          cluster_centroids_init: 'linear',
          layers: [
            { match: { name: 'conv' }, number_of_clusters: 4, cluster_biases: true },
            { match: { name: 'depthwise' }, cluster_depthwise: true, number_of_clusters: 5 },
            { match: { name: 'head_out' }, number_of_clusters: 3 },
            { match: { name: 'separable' }, action: 'exclude' },
          ],
        }),
      );
      const { layers } = result.metrics;
      const expected: [string, number | null][] = [
        ['conv/kernel', 4],
        ['conv/bias', null],
        ['depthwise/depthwise_kernel', 5],
        ['depthwise/bias', null],
        ['bn/gamma', null],
        ['separable/pointwise_kernel', null],
        ['td_dense/kernel', 8],
        ['head_dense/kernel', 8],
        ['head_out/kernel', 3],
        ['tiny/kernel', null],
      ];
      for (const [weight, numberOfClusters] of expected) {
        const report = reportOf(layers, weight);
        assert.equal(report.number_of_clusters, numberOfClusters, weight);
        assert.equal(report.clustered, numberOfClusters !== null, weight);
        if (numberOfClusters !== null) assert.ok(report.distinct_after <= numberOfClusters, `${weight}: ${report.distinct_after} distinct values`);
      }
      // conv/bias has only 4 values, no more than the 4 clusters of its rule.
      assert.match(reportOf(layers, 'conv/bias').reason, /4 weights, no more than the 4 clusters/);
      assert.match(reportOf(layers, 'separable/pointwise_kernel').reason, /excluded by layers\[3\] \(name "separable"\)/);
      assert.match(reportOf(layers, 'tiny/kernel').reason, /6 weights, no more than the 8 clusters/);
      assert.match(reportOf(layers, 'conv/kernel').reason, /included by layers\[0\] \(name "conv"\)/);

      const original = await readKerasH5(layerMix);
      const written = await readKerasH5(path.join(dir, 'model.h5'));
      for (const weight of original.weights) {
        const report = reportOf(layers, weight.name.replace(/:0$/, ''));
        const after = written.weights.find((candidate) => candidate.datasetPath === weight.datasetPath)!;
        if (!report.clustered) assert.deepEqual(bitsOf(after.values), bitsOf(weight.values), `${weight.name} is untouched`);
      }
    });
  });

  it('raises for a named layer with nothing to cluster', async () => {
    await withTempDir(async (dir) => {
      await assert.rejects(
        runPipeline(pipelineInput(layerMix, null, dir, { number_of_clusters: 8, layers: [{ match: { name: 'bn' } }] })),
        (error: unknown) => {
          assert.ok(error instanceof CentroidError, String(error));
          assert.equal(error.code, 'LAYER_NOT_CLUSTERABLE');
          assert.equal(error.location.layer, 'bn');
          assert.match(error.message, /includes layer "bn" \(BatchNormalization\)/);
          return true;
        },
      );
    });
  });

  it('agrees with the check at submit', async () => {
    await selectBackend();
    const inspection = await inspectModelFile(layerMix);
    const descriptions = describeModelLayers(inspection.modelConfig, inspection.weights);
    const { model } = await toLayersModel(await readKerasH5(layerMix));
    const cases: Omit<JobParamsInput, 'number_of_clusters'>[] = [
      {},
      { cluster_depthwise: true, cluster_biases: true },
      { layers: [{ match: { pattern: '*' }, action: 'exclude' }, { match: { name: 'head' }, number_of_clusters: 3 }] },
      { layers: [{ match: { class: 'Dense' }, cluster_biases: true, number_of_clusters: 2 }, { match: { name: 'separable' }, cluster_depthwise: true }] },
      { layers: [{ match: { name: 'dense' }, number_of_clusters: 4 }] },
      { layers: [{ match: { name: 'bn' } }] },
      { layers: [{ match: { name: 'tiny' } }] },
      { layers: [{ match: { name: 'no_such_layer' }, action: 'exclude' }] },
      { layers: [{ match: { name: 'pixels' }, action: 'exclude' }] },
    ];

    try {
      for (const input of cases) {
        const params = JobParamsSchema.parse({ number_of_clusters: 8, ...input });
        const outcome = (decide: () => Map<string, boolean>) => {
          try {
            return decide();
          } catch (error) {
            assert.ok(error instanceof CentroidError, String(error));
            return `${error.code} ${error.location.field}`;
          }
        };
        const atSubmit = outcome(() => {
          const decisions = decideLayers(descriptions, params);
          const entries = descriptions.flatMap((layer, i) => layer.weights.map((weight, j) => [`${layer.name}/${weight.name}`, decisions[i]![j]!.clusterable] as const));
          return new Map(entries);
        });
        const inEngine = outcome(() => {
          const entries = selectWeights(model, params).map((selection) => [`${selection.layer.name}/${selection.weightName.split('/').pop()}`, selection.clusterable] as const);
          return new Map(entries);
        });
        assert.deepEqual(atSubmit, inEngine, JSON.stringify(input));
      }
    } finally {
      model.dispose();
    }
  });

  it('writes nested and wrapped layers that Keras loads', { skip: skipKeras }, async () => {
    await withTempDir(async (dir) => {
      const samples = 4;
      const inputs = Float32Array.from({ length: samples * 8 * 8 * 2 }, (_, index) => Math.sin(index));
      const npz = await writeNpz(path.join(dir, 'inputs.npz'), { x_test: { dtype: '<f4', shape: [samples, 8, 8, 2], data: inputs } });
      const outDir = path.join(dir, 'out');
      const result = await runPipeline(
        pipelineInput(layerMix, null, outDir, {
          number_of_clusters: 4,
          cluster_depthwise: true,
          layers: [{ match: { name: 'head' }, number_of_clusters: 3, cluster_biases: true }],
        }),
      );
      const clusteredPath = path.join(outDir, 'model.h5');
      assert.equal(reportOf(result.metrics.layers, 'head_dense/bias').number_of_clusters, 3);

      const { model } = await toLayersModel(await readKerasH5(clusteredPath));
      const enginePredictions = tf.tidy(() => (model.predict(tf.tensor4d(inputs, [samples, 8, 8, 2])) as tf.Tensor).dataSync() as Float32Array);
      model.dispose();

      const predictionsPath = path.join(dir, 'keras-predictions.npy');
      await run(python!, [pythonScriptPath('predict.py'), clusteredPath, npz, 'x_test', '1', String(samples), predictionsPath], {
        env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
      });
      const kerasPredictions = (await readNpy(predictionsPath)).data as Float32Array;
      assert.equal(kerasPredictions.length, enginePredictions.length);
      kerasPredictions.forEach((value, index) => {
        assert.ok(Math.abs(value - enginePredictions[index]!) <= 1e-5, `output ${index}: Keras ${value}, engine ${enginePredictions[index]}`);
      });

      const { stdout } = await run(python!, [pythonScriptPath('inspect_h5.py'), clusteredPath], { env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } });
      const datasets = (JSON.parse(stdout) as { datasets: { path: string; distinct_values: number }[] }).datasets;
      for (const [datasetPath, clusters] of [
        ['model_weights/head/head_dense/kernel:0', 3],
        ['model_weights/head/head_dense/bias:0', 3],
        ['model_weights/head/head_out/kernel:0', 3],
        ['model_weights/td_dense/td_dense/kernel:0', 4],
        ['model_weights/depthwise/depthwise/depthwise_kernel:0', 4],
      ] as const) {
        const dataset = datasets.find((candidate) => candidate.path === datasetPath);
        assert.ok(dataset, `no dataset ${datasetPath}`);
        assert.ok(dataset.distinct_values <= clusters, `${datasetPath} has ${dataset.distinct_values} values`);
      }
    });
  });
});
