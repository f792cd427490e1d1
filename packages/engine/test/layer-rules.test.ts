import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { CentroidError, JobParamsSchema, type JobParamsInput } from '@centroid/contracts';
import { ClusteringSession } from '../src/clustering-session.js';
import { countDistinct } from '../src/report.js';
import { clusterTargets, selectWeights, type WeightSelection } from '../src/select-weights.js';
import { stripClustering } from '../src/strip-clustering.js';
import { useTestBackend } from './fixtures.js';

type Params = ReturnType<typeof JobParamsSchema.parse>;

function jobParams(input: Omit<JobParamsInput, 'number_of_clusters'> & { number_of_clusters?: number }): Params {
  return JobParamsSchema.parse({ number_of_clusters: 4, cluster_centroids_init: 'linear', ...input });
}

/** Dense layers named block1_a, block1_b, block2_a and out, 6 → 6 → 6 → 6 → 3. */
function blockModel(): tf.Sequential {
  const seeded = (seed: number) => tf.initializers.glorotUniform({ seed });
  const bias = (seed: number) => tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed });
  return tf.sequential({
    layers: [
      tf.layers.dense({ name: 'block1_a', inputShape: [6], units: 6, kernelInitializer: seeded(1), biasInitializer: bias(11) }),
      tf.layers.dense({ name: 'block1_b', units: 6, kernelInitializer: seeded(2), biasInitializer: bias(12) }),
      tf.layers.dense({ name: 'block2_a', units: 6, kernelInitializer: seeded(3), biasInitializer: bias(13) }),
      tf.layers.dense({ name: 'out', units: 3, kernelInitializer: seeded(4), biasInitializer: bias(14) }),
    ],
  });
}

/** Conv2D, DepthwiseConv2D, BatchNormalization, SeparableConv2D, Flatten, Dense and a Dense with a 2-weight kernel, on 7×7×2 inputs. */
function convModel(): tf.Sequential {
  const seeded = (seed: number) => tf.initializers.glorotUniform({ seed });
  const bias = (seed: number) => tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ name: 'conv', inputShape: [7, 7, 2], filters: 4, kernelSize: 3, kernelInitializer: seeded(1), biasInitializer: bias(11) }),
      tf.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, depthwiseInitializer: seeded(2), biasInitializer: bias(12) }),
      tf.layers.batchNormalization({ name: 'bn', gammaInitializer: bias(13), betaInitializer: bias(14) }),
      tf.layers.separableConv2d({
        name: 'sep',
        filters: 4,
        kernelSize: 2,
        depthwiseInitializer: seeded(3),
        pointwiseInitializer: seeded(4),
        biasInitializer: bias(15),
      }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ name: 'mid', units: 2, kernelInitializer: seeded(5) }),
      tf.layers.dense({ name: 'tiny', units: 1, kernelInitializer: seeded(6) }),
    ],
  });
}

function selected(selections: WeightSelection[], weightName: string): WeightSelection {
  const found = selections.find((selection) => selection.weightName === weightName);
  assert.ok(found, `no selection for ${weightName}: ${selections.map((selection) => selection.weightName).join(', ')}`);
  return found;
}

function clusteredNames(selections: WeightSelection[]): string[] {
  return selections.filter((selection) => selection.clusterable).map((selection) => selection.weightName);
}

function valuesOf(model: tf.LayersModel, weightName: string): Float32Array {
  const variable = model.weights.find((weight) => weight.originalName === weightName);
  assert.ok(variable, `no weight ${weightName}`);
  return Float32Array.from(variable.read().dataSync() as Float32Array);
}

/** Clusters `model` as the pipeline does and returns the selections. */
function clusterModel(model: tf.LayersModel, params: Params): WeightSelection[] {
  const selections = selectWeights(model, params);
  const session = ClusteringSession.start(model, clusterTargets(selections), {
    method: params.cluster_centroids_init,
    seed: 0,
    preserveSparsity: params.preserve_sparsity,
    clusterPerChannel: params.cluster_per_channel,
  });
  stripClustering(session);
  return selections;
}

function assertRaises(action: () => unknown, code: string, field: string, message: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof CentroidError, String(error));
    assert.equal(error.code, code);
    assert.equal(error.location.field, field);
    assert.match(error.message, message);
    return true;
  });
}

describe('layers rules', () => {
  before(async () => {
    await useTestBackend();
  });

  it('include by name after excluding all', () => {
    const params = jobParams({ layers: [{ match: { pattern: '*' }, action: 'exclude' }, { match: { name: 'block2_a' } }] });
    const selections = selectWeights(blockModel(), params);

    assert.deepEqual(clusteredNames(selections), ['block2_a/kernel']);
    assert.match(selected(selections, 'block2_a/kernel').reason, /^kernel of Dense, included by layers\[1\] \(name "block2_a"\)$/);
    assert.match(selected(selections, 'out/kernel').reason, /excluded by layers\[0\] \(pattern "\*"\)/);
  });

  it('exclude by glob pattern', () => {
    const selections = selectWeights(blockModel(), jobParams({ layers: [{ match: { pattern: 'block1_*' }, action: 'exclude' }] }));
    assert.deepEqual(clusteredNames(selections), ['block2_a/kernel', 'out/kernel']);
  });

  it('question mark matches one character', () => {
    const selections = selectWeights(blockModel(), jobParams({ layers: [{ match: { pattern: 'block?_a' }, action: 'exclude' }] }));
    assert.deepEqual(clusteredNames(selections), ['block1_b/kernel', 'out/kernel']);
  });

  it('exclude by layer class', () => {
    const selections = selectWeights(convModel(), jobParams({ layers: [{ match: { class: 'Conv2D' }, action: 'exclude' }] }));
    assert.equal(selected(selections, 'conv/kernel').clusterable, false);
    assert.equal(selected(selections, 'sep/pointwise_kernel').clusterable, true);
  });

  it('last matching rule decides', () => {
    const params = jobParams({
      layers: [
        { match: { name: 'block1_a' }, number_of_clusters: 3 },
        { match: { pattern: 'block1_*' }, number_of_clusters: 5 },
        { match: { name: 'block1_b' }, action: 'exclude' },
      ],
    });
    const selections = selectWeights(blockModel(), params);

    assert.equal(selected(selections, 'block1_a/kernel').settings?.numberOfClusters, 5);
    assert.equal(selected(selections, 'block1_b/kernel').clusterable, false);
    assert.equal(selected(selections, 'block2_a/kernel').settings?.numberOfClusters, 4);
  });

  it('per-layer number of clusters', () => {
    const model = blockModel();
    const params = jobParams({ number_of_clusters: 4, layers: [{ match: { name: 'block1_b' }, number_of_clusters: 2 }] });
    const selections = clusterModel(model, params);
    const targets = clusterTargets(selections);

    assert.deepEqual(
      targets.map((target) => [target.layer.name, target.numberOfClusters]),
      [['block1_a', 4], ['block1_b', 2], ['block2_a', 4], ['out', 4]],
    );
    assert.equal(countDistinct(valuesOf(model, 'block1_b/kernel')), 2);
    assert.equal(countDistinct(valuesOf(model, 'block1_a/kernel')), 4);
  });

  it('per-layer initialisation override', () => {
    const model = blockModel();
    const kernel = valuesOf(model, 'out/kernel');
    const params = jobParams({ cluster_centroids_init: 'kmeans_plus_plus', layers: [{ match: { name: 'out' }, cluster_centroids_init: 'LINEAR' }] });
    const targets = clusterTargets(selectWeights(model, params));
    const session = ClusteringSession.start(model, targets, { method: 'kmeans_plus_plus', seed: 0 });

    const outTarget = targets.find((target) => target.layer.name === 'out')!;
    assert.deepEqual(outTarget.options, { method: 'linear' });
    const centroids = session.centroids(outTarget);
    assert.equal(centroids[0], Math.min(...kernel));
    assert.equal(centroids[3], Math.max(...kernel));
    assert.equal(targets.find((target) => target.layer.name === 'block1_a')!.options, undefined);
    session.dispose();
  });

  it('per-layer preserve_sparsity override', () => {
    const model = blockModel();
    const layer = model.getLayer('block1_b');
    const kernel = valuesOf(model, 'block1_b/kernel');
    const zeroed = kernel.map((value, index) => (index % 3 === 0 ? 0 : value));
    layer.setWeights([tf.tensor2d(zeroed, [6, 6]), layer.getWeights()[1]!]);
    const otherZeroed = valuesOf(model, 'block1_a/kernel').map((value, index) => (index % 3 === 0 ? 0 : value));
    model.getLayer('block1_a').setWeights([tf.tensor2d(otherZeroed, [6, 6]), model.getLayer('block1_a').getWeights()[1]!]);

    clusterModel(model, jobParams({ number_of_clusters: 3, layers: [{ match: { name: 'block1_b' }, preserve_sparsity: true }] }));

    const after = valuesOf(model, 'block1_b/kernel');
    zeroed.forEach((value, index) => {
      if (value === 0) assert.equal(after[index], 0, `block1_b kernel index ${index}`);
    });
    const afterOther = valuesOf(model, 'block1_a/kernel');
    assert.ok(
      otherZeroed.some((value, index) => value === 0 && afterOther[index] !== 0),
      'without preserve_sparsity some zero weights of block1_a move to a nonzero centroid',
    );
  });

  it('per-layer cluster_per_channel override', () => {
    const model = convModel();
    const params = jobParams({ number_of_clusters: 2, layers: [{ match: { name: 'conv' }, cluster_per_channel: true }] });
    const targets = clusterTargets(selectWeights(model, params));
    const session = ClusteringSession.start(model, targets, { method: 'linear', seed: 0 });

    const conv = targets.find((target) => target.layer.name === 'conv')!;
    const sep = targets.find((target) => target.layer.name === 'sep')!;
    assert.equal(session.centroidTableSize(conv), 4 * 2);
    assert.match(session.clusteringNote(conv) ?? '', /per output channel/);
    assert.equal(session.centroidTableSize(sep), 2);
    assert.equal(session.clusteringNote(sep), null);
    session.dispose();
  });

  it('per-layer gradient_aggregation override', () => {
    const model = blockModel();
    const params = jobParams({ layers: [{ match: { name: 'out' }, gradient_aggregation: 'AVG' }] });
    const targets = clusterTargets(selectWeights(model, params));
    const session = ClusteringSession.start(model, targets, { method: 'linear', seed: 0, gradientAggregation: 'sum' });

    const out = targets.find((target) => target.layer.name === 'out')!;
    const other = targets.find((target) => target.layer.name === 'block1_a')!;
    assert.deepEqual(out.options, { gradientAggregation: 'avg' });
    // Averaged gradients take the grouped path, which measures its own initial error.
    assert.notEqual(session.initialSquaredError(out), null);
    assert.equal(session.initialSquaredError(other), null);
    session.dispose();
  });

  it('leaves depthwise kernels alone by default', () => {
    const model = convModel();
    const before = valuesOf(model, 'dw/depthwise_kernel');
    const separableBefore = valuesOf(model, 'sep/depthwise_kernel');
    const selections = clusterModel(model, jobParams({}));

    assert.equal(selected(selections, 'dw/depthwise_kernel').clusterable, false);
    assert.deepEqual(valuesOf(model, 'dw/depthwise_kernel'), before);
    assert.deepEqual(valuesOf(model, 'sep/depthwise_kernel'), separableBefore);
  });

  it('cluster_depthwise clusters depthwise kernels', () => {
    const model = convModel();
    const selections = clusterModel(model, jobParams({ cluster_depthwise: true }));

    assert.equal(selected(selections, 'dw/depthwise_kernel').clusterable, true);
    assert.equal(selected(selections, 'sep/depthwise_kernel').clusterable, true);
    assert.ok(countDistinct(valuesOf(model, 'dw/depthwise_kernel')) <= 4);
    assert.ok(countDistinct(valuesOf(model, 'sep/depthwise_kernel')) <= 4);
  });

  it('cluster_depthwise per layer', () => {
    const model = convModel();
    const separableBefore = valuesOf(model, 'sep/depthwise_kernel');
    const selections = clusterModel(model, jobParams({ layers: [{ match: { class: 'DepthwiseConv2D' }, cluster_depthwise: true }] }));

    assert.equal(selected(selections, 'dw/depthwise_kernel').clusterable, true);
    assert.ok(countDistinct(valuesOf(model, 'dw/depthwise_kernel')) <= 4);
    assert.deepEqual(valuesOf(model, 'sep/depthwise_kernel'), separableBefore);
  });

  it('cluster_biases clusters biases only', () => {
    const model = blockModel();
    const modelWithBn = convModel();
    const gammaBefore = valuesOf(modelWithBn, 'bn/gamma');
    const selections = clusterModel(model, jobParams({ number_of_clusters: 2, cluster_biases: true }));
    const convSelections = clusterModel(modelWithBn, jobParams({ number_of_clusters: 2, cluster_biases: true }));

    assert.equal(selected(selections, 'block1_a/bias').clusterable, true);
    assert.equal(countDistinct(valuesOf(model, 'block1_a/bias')), 2);
    assert.equal(selected(convSelections, 'conv/bias').clusterable, true);
    assert.equal(selected(convSelections, 'dw/bias').clusterable, false, 'the bias of a DepthwiseConv2D follows cluster_depthwise');
    assert.equal(selected(convSelections, 'bn/gamma').clusterable, false);
    assert.deepEqual(valuesOf(modelWithBn, 'bn/gamma'), gammaBefore);
  });

  it('cluster_biases per layer', () => {
    const model = blockModel();
    const biasBefore = valuesOf(model, 'block1_a/bias');
    clusterModel(model, jobParams({ number_of_clusters: 2, layers: [{ match: { name: 'out' }, cluster_biases: true }] }));

    assert.ok(countDistinct(valuesOf(model, 'out/bias')) <= 2);
    assert.deepEqual(valuesOf(model, 'block1_a/bias'), biasBefore);
  });

  it('rejects a name the model lacks', () => {
    assertRaises(
      () => selectWeights(blockModel(), jobParams({ layers: [{ match: { name: 'block3' } }] })),
      'PARAMS_INVALID',
      'layers.0.match.name',
      /layers\[0\] \(name "block3"\) names layer "block3", but the model has no layer of that name/,
    );
  });

  it('rejects BatchNormalization asked by name', () => {
    assertRaises(
      () => selectWeights(convModel(), jobParams({ layers: [{ match: { name: 'bn' } }] })),
      'LAYER_NOT_CLUSTERABLE',
      'layers.0.match.name',
      /includes layer "bn" \(BatchNormalization\), but none of its weights can be clustered: .*never clustered/,
    );
  });

  it('rejects a Flatten asked by name', () => {
    assertRaises(
      () => selectWeights(convModel(), jobParams({ layers: [{ match: { name: 'flat' } }] })),
      'LAYER_NOT_CLUSTERABLE',
      'layers.0.match.name',
      /includes layer "flat" \(Flatten\), but it has no weights/,
    );
  });

  it('rejects a kernel smaller than its clusters', () => {
    assertRaises(
      () => selectWeights(convModel(), jobParams({ layers: [{ match: { name: 'tiny' } }] })),
      'LAYER_NOT_CLUSTERABLE',
      'layers.0.match.name',
      /includes layer "tiny" \(Dense\).*no more than the 4 clusters/,
    );
  });

  it('rejects a depthwise layer without the opt-in', () => {
    assertRaises(
      () => selectWeights(convModel(), jobParams({ layers: [{ match: { name: 'dw' } }] })),
      'LAYER_NOT_CLUSTERABLE',
      'layers.0.match.name',
      /includes layer "dw" \(DepthwiseConv2D\).*set cluster_depthwise/,
    );
    const selections = selectWeights(convModel(), jobParams({ layers: [{ match: { name: 'dw' }, cluster_depthwise: true }] }));
    assert.equal(selected(selections, 'dw/depthwise_kernel').clusterable, true);
  });

  it('later exclude withdraws a named layer', () => {
    const params = jobParams({ layers: [{ match: { name: 'bn' } }, { match: { class: 'BatchNormalization' }, action: 'exclude' }] });
    const selections = selectWeights(convModel(), params);
    assert.match(selected(selections, 'bn/gamma').reason, /excluded by layers\[1\]/);
  });

  it('patterns skip what cannot be clustered', () => {
    const selections = selectWeights(convModel(), jobParams({ layers: [{ match: { pattern: '*' } }] }));

    assert.equal(selected(selections, 'tiny/kernel').clusterable, false);
    assert.match(selected(selections, 'bn/gamma').reason, /never clustered/);
    assert.equal(selected(selections, 'conv/kernel').clusterable, true);
  });

  it('without layers selects as before', () => {
    const withoutRules = selectWeights(convModel(), jobParams({}));
    const byNumber = selectWeights(convModel(), 4);
    assert.deepEqual(
      withoutRules.map((selection) => [selection.weightName, selection.clusterable, selection.reason]),
      byNumber.map((selection) => [selection.weightName, selection.clusterable, selection.reason]),
    );
    assert.ok(clusterTargets(withoutRules).every((target) => target.options === undefined));
  });
});
