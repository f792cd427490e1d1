import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { CentroidError, MetricsSchema, type LayerReport, type Metrics, type Progress } from '@centroid/contracts';
import { fixturePath } from '@centroid/examples';
import { readKerasH5, type WeightEntry } from '@centroid/model-io';
import { runPipeline } from '../src/index.js';
import { bitsOf, pipelineInput, withTempDir, writeNpz } from './helpers.js';

const tinyCnn = fixturePath('tiny-cnn.h5');
const tinyData = fixturePath('tiny-cnn.npz');
const denseMlp = fixturePath('dense-mlp.h5');
// A Dense model (6 inputs, 3 classes) saved without its training config, from model-io's fixtures.
const uncompiledDense = fileURLToPath(new URL('../../model-io/test/fixtures/dense-adam.no-optimizer.h5', import.meta.url));

const countDistinctBits = (values: Float32Array): number => new Set(bitsOf(values)).size;

/** One weight of the tiny CNN before and after a run, with its layer report. */
interface WeightOutcome {
  before: WeightEntry;
  after: WeightEntry;
  report: LayerReport | undefined;
}

/**
 * Clusters the tiny CNN into 3 clusters with `method` and one epoch of fine-tuning, and
 * returns the metrics and each weight before and after, in file order.
 */
async function clusterTinyCnn(dir: string, method: 'kmeans' | 'kmeans_plus_plus'): Promise<{ metrics: Metrics; weights: WeightOutcome[] }> {
  const result = await runPipeline(
    pipelineInput(tinyCnn, tinyData, dir, {
      number_of_clusters: 3,
      cluster_centroids_init: method,
      fine_tune: { epochs: 1, batch_size: 8, learning_rate: 1e-2 },
    }),
  );
  const original = await readKerasH5(tinyCnn);
  const written = await readKerasH5(path.join(dir, 'model.h5'));
  assert.equal(written.weights.length, original.weights.length);
  const weights = original.weights.map((before, index) => ({
    before,
    after: written.weights[index]!,
    report: result.metrics.layers.find((layer) => layer.layer === before.layer && layer.weight === before.name.replace(/:0$/, '')),
  }));
  return { metrics: result.metrics, weights };
}

describe('runPipeline', () => {
  it('clusters, fine-tunes and writes every artifact', async () => {
    await withTempDir(async (dir) => {
      const stages: Progress['stage'][] = [];
      const result = await runPipeline(
        pipelineInput(tinyCnn, tinyData, dir, {
          number_of_clusters: 4,
          cluster_centroids_init: 'linear',
          fine_tune: { epochs: 2, batch_size: 16, learning_rate: 1e-3 },
        }),
        { onProgress: (progress) => stages.at(-1) !== progress.stage && stages.push(progress.stage) },
      );

      assert.deepEqual(
        result.artifacts.map((artifact) => artifact.name),
        ['model.h5', 'model.h5.gz', 'metrics.json'],
      );
      assert.deepEqual(stages, [
        'loading',
        'evaluating_baseline',
        'clustering',
        'fine_tuning',
        'stripping',
        'evaluating',
        'packaging',
      ]);
      MetricsSchema.parse(result.metrics);
      assert.equal(result.metrics.fine_tuning.performed, true);
      assert.equal(result.metrics.fine_tuning.train_samples, 64);
      assert.equal(result.metrics.fine_tuning.steps, 8);
      assert.notEqual(result.metrics.baseline, null);
      assert.notEqual(result.metrics.clustered, null);
      assert.equal(result.metrics.clustered?.samples, 32);
      assert.ok(result.metrics.size.clustered_gzip_bytes > 0);
      for (const stage of stages) assert.equal(typeof result.metrics.timings_ms[stage], 'number', stage);
    });
  });

  it('keeps unclustered tensors bit-identical and clustered ones at N values', async () => {
    await withTempDir(async (dir) => {
      const clusters = 3;
      const { weights } = await clusterTinyCnn(dir, 'kmeans_plus_plus');

      let clusteredCount = 0;
      for (const { before, after, report } of weights) {
        assert.ok(report, `no report for ${before.datasetPath}`);
        assert.equal(after.datasetPath, before.datasetPath);
        if (report.clustered) {
          clusteredCount++;
          assert.ok(countDistinctBits(after.values) <= clusters, `${before.datasetPath} has more than ${clusters} values`);
          assert.equal(report.distinct_after, countDistinctBits(after.values));
        } else {
          assert.deepEqual(bitsOf(after.values), bitsOf(before.values), `${before.datasetPath} changed`);
        }
      }
      assert.equal(clusteredCount, 2, 'the Conv2D and Dense kernels are clustered');
    });
  });

  it('reports errors, entropy and ideal sizes per tensor', async () => {
    await withTempDir(async (dir) => {
      const clusters = 3;
      const { metrics, weights } = await clusterTinyCnn(dir, 'kmeans');

      let idealTotal = 0;
      for (const outcome of weights) {
        const { before } = outcome;
        const after = outcome.after.values;
        const report = outcome.report!;
        const name = before.datasetPath;
        idealTotal += report.ideal_bytes as number;
        let squaredError = 0;
        for (let i = 0; i < after.length; i++) squaredError += ((after[i] as number) - (before.values[i] as number)) ** 2;
        assert.ok(Math.abs((report.sse_final as number) - squaredError) <= 1e-9 * Math.max(1, squaredError), `${name} sse_final`);
        if (!report.clustered) {
          assert.equal(report.sse_initial, null, name);
          assert.equal(report.entropy_bits, null, name);
          assert.equal(report.ideal_bytes, 4 * after.length, name);
          continue;
        }
        const counts = new Map<number, number>();
        for (const value of after) counts.set(value, (counts.get(value) ?? 0) + 1);
        let entropy = 0;
        for (const count of counts.values()) entropy -= (count / after.length) * Math.log2(count / after.length);
        assert.ok(Math.abs((report.entropy_bits as number) - entropy) < 1e-9, `${name} entropy ${report.entropy_bits} against ${entropy}`);
        assert.equal(report.ideal_bytes, Math.ceil((after.length * (report.entropy_bits as number)) / 8) + 4 * clusters, `${name} ideal size`);
        assert.ok((report.sse_initial as number) > 0, `${name} sse_initial`);
      }
      assert.equal(metrics.size.ideal_bytes, idealTotal);
    });
  });

  it('reports the initial error as final without fine-tuning', async () => {
    await withTempDir(async (dir) => {
      const result = await runPipeline(pipelineInput(tinyCnn, null, dir, { number_of_clusters: 3, cluster_centroids_init: 'kmeans_1d_optimal' }));
      const clustered = result.metrics.layers.filter((layer) => layer.clustered);
      assert.equal(clustered.length, 2);
      for (const layer of clustered) {
        assert.ok(Math.abs((layer.sse_final as number) - (layer.sse_initial as number)) <= 1e-9 * (layer.sse_initial as number), `${layer.layer}/${layer.weight}`);
      }
    });
  });

  it('skips fine-tuning without a dataset', async () => {
    await withTempDir(async (dir) => {
      const reported: Progress[] = [];
      const skipped: string[] = [];
      const result = await runPipeline(pipelineInput(tinyCnn, null, dir, { number_of_clusters: 4 }), {
        onProgress: (progress) => reported.push(progress),
        onStageSkipped: (stage, reason) => skipped.push(`${stage}: ${reason}`),
      });
      assert.deepEqual([...new Set(reported.map((progress) => progress.stage))], ['loading', 'clustering', 'stripping', 'packaging']);
      assert.deepEqual(skipped, [
        'evaluating_baseline: data-free clustering: no dataset was given',
        'fine_tuning: data-free clustering: no dataset was given',
        'evaluating: data-free clustering: no dataset was given',
      ]);
      for (let i = 1; i < reported.length; i++) assert.ok(reported[i]!.percent >= reported[i - 1]!.percent, `percent at ${reported[i]!.stage}`);
      assert.equal(reported.at(-1)?.percent, 100);
      assert.deepEqual(Object.keys(result.metrics.timings_ms), ['loading', 'clustering', 'stripping', 'packaging']);
      assert.equal(result.metrics.fine_tuning.performed, false);
      assert.match(result.metrics.fine_tuning.skipped_reason ?? '', /no dataset/);
      assert.equal(result.metrics.baseline, null);
      assert.equal(result.metrics.clustered, null);
      assert.ok(result.metrics.layers.some((layer) => layer.clustered));
    });
  });

  it('warns when nothing is clustered', async () => {
    await withTempDir(async (dir) => {
      const result = await runPipeline(pipelineInput(tinyCnn, null, dir, { number_of_clusters: 60000 }));
      assert.ok(result.metrics.layers.every((layer) => !layer.clustered));
      const warnings = result.metrics.warnings.filter((warning) => warning.code === 'NOTHING_CLUSTERED');
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!.message, /^No weight was clustered, so the model is returned unchanged: all \d+ candidate weight tensors have no more weights than number_of_clusters \(60,000\)\. The largest has [\d,]+ weights/);

      const clustered = await runPipeline(pipelineInput(tinyCnn, null, path.join(dir, 'clustered'), { number_of_clusters: 4 }));
      assert.deepEqual(clustered.metrics.warnings, []);
    });
  });

  it('drops optimizer state and says so', async () => {
    await withTempDir(async (dir) => {
      const result = await runPipeline(pipelineInput(denseMlp, null, dir, { number_of_clusters: 2 }));
      assert.ok(result.metrics.warnings.some((warning) => warning.code === 'OPTIMIZER_STATE_DROPPED'));
      const written = await readKerasH5(path.join(dir, 'model.h5'));
      assert.equal(written.hasOptimizerState, false);
    });
  });

  it('names a missing dataset array', async () => {
    await withTempDir(async (dir) => {
      const npz = await writeNpz(path.join(dir, 'partial.npz'), {
        x_test: { dtype: '<f4', shape: [2, 8, 8, 1], data: new Float32Array(128) },
      });
      await assert.rejects(
        runPipeline(pipelineInput(tinyCnn, npz, dir, { number_of_clusters: 4 })),
        (error: unknown) =>
          error instanceof CentroidError &&
          error.code === 'DATASET_ARRAY_MISSING' &&
          error.location.field === 'dataset.y_test' &&
          error.location.file === 'partial.npz' &&
          /'y_test'/.test(error.message),
      );
    });
  });

  it('names an input array whose shape does not fit', async () => {
    await withTempDir(async (dir) => {
      const npz = await writeNpz(path.join(dir, 'wrong.npz'), {
        x_test: { dtype: '<f4', shape: [2, 9, 9, 1], data: new Float32Array(162) },
        y_test: { dtype: '|u1', shape: [2], data: new Uint8Array([0, 1]) },
      });
      await assert.rejects(
        runPipeline(pipelineInput(tinyCnn, npz, dir, { number_of_clusters: 4, fine_tune: { epochs: 0 } })),
        (error: unknown) =>
          error instanceof CentroidError &&
          error.code === 'DATASET_SHAPE_MISMATCH' &&
          error.location.field === 'dataset.x_test' &&
          /\(2, 9, 9, 1\)/.test(error.message) &&
          /\(n, 8, 8, 1\)/.test(error.message),
      );
    });
  });

  it('rejects labels outside the model classes', async () => {
    await withTempDir(async (dir) => {
      const npz = await writeNpz(path.join(dir, 'labels.npz'), {
        x_test: { dtype: '<f4', shape: [2, 8, 8, 1], data: new Float32Array(128) },
        y_test: { dtype: '|u1', shape: [2], data: new Uint8Array([0, 7]) },
      });
      await assert.rejects(
        runPipeline(pipelineInput(tinyCnn, npz, dir, { number_of_clusters: 4, fine_tune: { epochs: 0 } })),
        (error: unknown) =>
          error instanceof CentroidError && error.code === 'DATASET_INVALID' && error.location.field === 'dataset.y_test',
      );
    });
  });

  it('clusters an uncompiled model without using the dataset', async () => {
    await withTempDir(async (dir) => {
      const npz = await writeNpz(path.join(dir, 'indices.npz'), {
        x_test: { dtype: '<f4', shape: [4, 6], data: new Float32Array(24) },
        y_test: { dtype: '|u1', shape: [4], data: new Uint8Array([0, 1, 2, 0]) },
        x_train: { dtype: '<f4', shape: [4, 6], data: new Float32Array(24) },
        y_train: { dtype: '|u1', shape: [4], data: new Uint8Array([0, 1, 2, 0]) },
      });
      const result = await runPipeline(pipelineInput(uncompiledDense, npz, dir, { number_of_clusters: 2 }));
      assert.ok(result.metrics.warnings.some((warning) => warning.code === 'MODEL_NOT_COMPILED'));
      assert.equal(result.metrics.fine_tuning.performed, false);
      assert.equal(result.metrics.baseline, null);
      assert.ok(result.metrics.layers.some((layer) => layer.clustered));
    });
  });

  it('rejects an input array with no samples', async () => {
    await withTempDir(async (dir) => {
      const npz = await writeNpz(path.join(dir, 'empty.npz'), {
        x_test: { dtype: '<f4', shape: [0, 8, 8, 1], data: new Float32Array(0) },
        y_test: { dtype: '|u1', shape: [0], data: new Uint8Array(0) },
      });
      await assert.rejects(
        runPipeline(pipelineInput(tinyCnn, npz, dir, { number_of_clusters: 4, fine_tune: { epochs: 0 } })),
        (error: unknown) =>
          error instanceof CentroidError &&
          error.code === 'DATASET_INVALID' &&
          error.location.field === 'dataset.x_test' &&
          /no samples/.test(error.message),
      );
    });
  });

  it('stops with JOB_CANCELED when aborted', async () => {
    await withTempDir(async (dir) => {
      const controller = new AbortController();
      controller.abort();
      const tensorsBefore = tf.memory().numTensors;
      await assert.rejects(
        runPipeline(pipelineInput(tinyCnn, tinyData, dir, { number_of_clusters: 4 }), { signal: controller.signal }),
        (error: unknown) => error instanceof CentroidError && error.code === 'JOB_CANCELED',
      );
      assert.equal(tf.memory().numTensors, tensorsBefore);
    });
  });

  it('leaves no tensors behind after a run', async () => {
    await withTempDir(async (dir) => {
      const input = pipelineInput(tinyCnn, tinyData, dir, { number_of_clusters: 4, fine_tune: { epochs: 1 } });
      await runPipeline(input);
      const tensorsAfterFirst = tf.memory().numTensors;
      await runPipeline(input);
      assert.equal(tf.memory().numTensors, tensorsAfterFirst);
    });
  });
});
