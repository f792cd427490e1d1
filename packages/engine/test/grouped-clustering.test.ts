import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { GradientAggregation } from '@centroid/contracts';
import { ClusteringSession, type ClusterTarget } from '../src/clustering-session.js';
import { fineTune, type FineTuneOptions } from '../src/fine-tune.js';
import { groupedClusteredWeight } from '../src/grouped-clustered-weight.js';
import { outputChannelAxis } from '../src/grouped-layout.js';
import { stripClustering } from '../src/strip-clustering.js';
import { CATEGORICAL, classificationData, convClassifier, denseClassifier, useTestBackend } from './fixtures.js';

const OPTIONS: FineTuneOptions = { epochs: 2, batchSize: 8, learningRate: 0.01, seed: 5, loss: CATEGORICAL };

interface Gradients {
  value: number[];
  latent: number[];
  centroids: number[];
}

/** Runs L = Σ upstream · groupedClusteredWeight(...) and returns the forward value and both gradients. */
function gradientsFor(
  latentRows: number[][],
  centroidRows: number[][],
  maskRows: number[][],
  upstream: number[][],
  aggregation: GradientAggregation,
): Gradients {
  const latent = tf.variable(tf.tensor2d(latentRows));
  const centroids = tf.variable(tf.tensor2d(centroidRows));
  const mask = tf.tensor2d(maskRows);
  try {
    return tf.tidy(() => {
      let forward: number[] = [];
      const { grads } = tf.variableGrads(() => {
        const clustered = groupedClusteredWeight(latent as tf.Tensor2D, centroids as tf.Tensor2D, mask, aggregation);
        forward = [...clustered.dataSync()];
        return tf.sum(tf.mul(clustered, tf.tensor2d(upstream))) as tf.Scalar;
      }, [latent, centroids]);
      return {
        value: forward,
        latent: [...(grads[latent.name] as tf.Tensor).dataSync()],
        centroids: [...(grads[centroids.name] as tf.Tensor).dataSync()],
      };
    });
  } finally {
    tf.dispose([latent, centroids, mask]);
  }
}

function kernelOf(layer: tf.layers.Layer): Float32Array {
  return Float32Array.from(layer.weights[0]!.read().dataSync() as Float32Array);
}

describe('gradient aggregation', () => {
  before(async () => {
    await useTestBackend();
  });

  // 0.1 and 0.2 are nearest 0, 0.9 and 1.4 nearest 1, 2.1 nearest 2.
  const latent = [[0.1, 0.9, 0.2, 2.1, 1.4]];
  const centroids = [[0, 1, 2]];
  const ones = [[1, 1, 1, 1, 1]];
  const upstream = [[1, 2, 3, 4, 5]];

  it('sums member gradients', () => {
    const result = gradientsFor(latent, centroids, ones, upstream, 'sum');
    assert.deepEqual(result.value, [0, 1, 0, 2, 1]);
    // Centroid 0: 1 + 3, centroid 1: 2 + 5, centroid 2: 4.
    assert.deepEqual(result.centroids, [4, 7, 4]);
    assert.deepEqual(result.latent, [1, 2, 3, 4, 5]);
  });

  it('averages member gradients', () => {
    const result = gradientsFor(latent, centroids, ones, upstream, 'avg');
    // Centroid 0: (1 + 3) / 2, centroid 1: (2 + 5) / 2, centroid 2: 4 / 1.
    assert.deepEqual(result.centroids, [2, 3.5, 4]);
    assert.deepEqual(result.latent, [1, 2, 3, 4, 5]);
  });

  it('gives an empty cluster zero', () => {
    const result = gradientsFor(latent, [[0, 1, 2, 10]], ones, upstream, 'avg');
    assert.deepEqual(result.centroids, [2, 3.5, 4, 0]);
  });

  it('keeps each row to its own centroids', () => {
    // Row 0 uses centroids 0 and 1, row 1 uses 10 and 20.
    const result = gradientsFor(
      [
        [0.1, 0.8, 0.9],
        [11, 19, 18],
      ],
      [
        [0, 1],
        [10, 20],
      ],
      [
        [1, 1, 1],
        [1, 1, 1],
      ],
      [
        [1, 2, 4],
        [8, 16, 32],
      ],
      'avg',
    );
    assert.deepEqual(result.value, [0, 1, 1, 10, 20, 20]);
    // Row 0: centroid 0 gets 1, centroid 1 gets (2 + 4) / 2. Row 1: 8, then (16 + 32) / 2.
    assert.deepEqual(result.centroids, [1, 3, 8, 24]);
  });

  it('ignores masked weights', () => {
    const result = gradientsFor(latent, centroids, [[1, 1, 0, 1, 0]], upstream, 'avg');
    assert.deepEqual(result.value, [0, 1, 0, 2, 0]);
    // Only 0.1 (upstream 1) is left in centroid 0, and only 0.9 (upstream 2) in centroid 1.
    assert.deepEqual(result.centroids, [1, 2, 4]);
    assert.deepEqual(result.latent, [1, 2, 0, 4, 0]);
  });
});

describe('preserve_sparsity', () => {
  before(async () => {
    await useTestBackend();
  });

  it('keeps the zeros of a sparse Dense kernel', async () => {
    const model = denseClassifier();
    const layer = model.layers[0]!;
    const kernel = kernelOf(layer);
    // Zero every other weight: 16 of the 32.
    const sparse = kernel.map((value, i) => (i % 2 === 0 ? 0 : value));
    layer.weights[0]!.write(tf.tensor(sparse, layer.weights[0]!.shape as number[]));
    const target: ClusterTarget = { layer, weightIndex: 0, numberOfClusters: 4 };
    const data = classificationData(16, [4], 3, 11);

    const session = ClusteringSession.start(model, [target], { method: 'linear', seed: 0, preserveSparsity: true });
    assert.match(session.clusteringNote(target) ?? '', /preserve_sparsity/);
    assert.equal(session.centroids(target).length, 3);
    await fineTune(session, data, { ...OPTIONS, trainUnclusteredWeights: false });
    stripClustering(session);

    const stripped = kernelOf(layer);
    stripped.forEach((value, i) => assert.equal(value === 0, sparse[i] === 0, `weight ${i}: ${value} from ${sparse[i]}`));
    const distinct = new Set(stripped);
    assert.ok(distinct.has(0));
    assert.ok(distinct.size <= 4, `${distinct.size} distinct values`);
    tf.dispose([data.x, data.y]);
    model.dispose();
  });

  it('splits centroids by sign counts', () => {
    const model = denseClassifier();
    const layer = model.layers[0]!;
    // 24 negative, 8 positive, no zeros: 6 of the 8 trained centroids go negative.
    const values = Float32Array.from({ length: 32 }, (_, i) => (i < 24 ? -1 - i : 1 + i));
    layer.weights[0]!.write(tf.tensor(values, [4, 8]));
    const target: ClusterTarget = { layer, weightIndex: 0, numberOfClusters: 9 };
    const session = ClusteringSession.start(model, [target], { method: 'linear', seed: 0, preserveSparsity: true });
    const centroids = [...session.centroids(target)];
    assert.equal(centroids.filter((value) => value < 0).length, 6);
    assert.equal(centroids.filter((value) => value > 0).length, 2);
    session.dispose();
    model.dispose();
  });

  it('rejects one cluster', () => {
    const model = denseClassifier();
    const target: ClusterTarget = { layer: model.layers[0]!, weightIndex: 0, numberOfClusters: 1 };
    assert.throws(() => ClusteringSession.start(model, [target], { method: 'linear', seed: 0, preserveSparsity: true }), /at least 2/);
    model.dispose();
  });
});

describe('cluster_per_channel', () => {
  before(async () => {
    await useTestBackend();
  });

  it('limits each Conv2D channel to N values', async () => {
    const model = convClassifier();
    const conv = model.layers[0]!;
    const dense = model.layers[2]!;
    const targets: ClusterTarget[] = [
      { layer: conv, weightIndex: 0, numberOfClusters: 3 },
      { layer: dense, weightIndex: 0, numberOfClusters: 3 },
    ];
    const data = classificationData(16, [6, 6, 1], 2, 11);

    const session = ClusteringSession.start(model, targets, { method: 'kmeans_plus_plus', seed: 0, clusterPerChannel: true });
    assert.match(session.clusteringNote(targets[0]!) ?? '', /per output channel \(axis 3\)/);
    assert.match(session.clusteringNote(targets[1]!) ?? '', /clustered per tensor/);
    assert.equal(session.centroidTableSize(targets[0]!), 12);
    await fineTune(session, data, OPTIONS);
    const stripped = stripClustering(session);

    // Kernel 3 × 3 × 1 × 4, so channel c contains the flat indices ≡ c (mod 4).
    const kernel = kernelOf(conv);
    assert.deepEqual(stripped.get(targets[0]!), kernel);
    for (let channel = 0; channel < 4; channel++) {
      const members = kernel.filter((_, i) => i % 4 === channel);
      assert.ok(new Set(members).size <= 3, `channel ${channel} has ${new Set(members).size} values`);
    }
    assert.ok(new Set(kernel).size > 3, `the kernel has only ${new Set(kernel).size} values`);
    assert.ok(new Set(kernelOf(dense)).size <= 3);
    tf.dispose([data.x, data.y]);
    model.dispose();
  });

  it('uses axis −2 for transposed kernels', () => {
    const model = tf.sequential({
      layers: [tf.layers.conv2dTranspose({ inputShape: [4, 4, 2], filters: 5, kernelSize: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) })],
    });
    const layer = model.layers[0]!;
    // Keras and TF.js store it as height × width × filters × in.
    assert.deepEqual(layer.weights[0]!.shape, [3, 3, 5, 2]);
    assert.deepEqual(outputChannelAxis(layer, 0), { axis: 2, reason: null });

    const target: ClusterTarget = { layer, weightIndex: 0, numberOfClusters: 2 };
    const session = ClusteringSession.start(model, [target], { method: 'linear', seed: 0, clusterPerChannel: true });
    stripClustering(session);
    const kernel = kernelOf(layer);
    for (let filter = 0; filter < 5; filter++) {
      // Flat index (((h·3 + w)·5 + filter)·2 + in).
      const members = kernel.filter((_, i) => Math.floor(i / 2) % 5 === filter);
      assert.equal(members.length, 18);
      assert.ok(new Set(members).size <= 2, `filter ${filter} has ${new Set(members).size} values`);
    }
    model.dispose();
  });

  it('limits each channel of every convolution', () => {
    const seeded = { kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) };
    // Each layer has 3 output channels, and kernels are stored as spatial × in × out,
    // or spatial × out × in for the transposed ones.
    const cases: { name: string; layer: tf.layers.Layer; axis: number }[] = [
      { name: 'Conv1D', layer: tf.layers.conv1d({ inputShape: [6, 2], filters: 3, kernelSize: 3, ...seeded }), axis: 2 },
      { name: 'Conv2D', layer: tf.layers.conv2d({ inputShape: [5, 5, 2], filters: 3, kernelSize: 3, ...seeded }), axis: 3 },
      { name: 'Conv3D', layer: tf.layers.conv3d({ inputShape: [4, 4, 4, 2], filters: 3, kernelSize: 2, ...seeded }), axis: 4 },
      { name: 'Conv2DTranspose', layer: tf.layers.conv2dTranspose({ inputShape: [4, 4, 2], filters: 3, kernelSize: 3, ...seeded }), axis: 2 },
      { name: 'Conv3DTranspose', layer: tf.layers.conv3dTranspose({ inputShape: [3, 3, 3, 2], filters: 3, kernelSize: 2, ...seeded }), axis: 3 },
    ];
    for (const { name, layer, axis } of cases) {
      const model = tf.sequential({ layers: [layer] });
      assert.deepEqual(outputChannelAxis(layer, 0), { axis, reason: null }, name);
      const target: ClusterTarget = { layer, weightIndex: 0, numberOfClusters: 2 };
      const session = ClusteringSession.start(model, [target], { method: 'kmeans', seed: 0, clusterPerChannel: true });
      stripClustering(session);

      const shape = layer.weights[0]!.shape as number[];
      const kernel = kernelOf(layer);
      const stride = shape.slice(axis + 1).reduce((product, dimension) => product * dimension, 1);
      for (let channel = 0; channel < 3; channel++) {
        const members = kernel.filter((_, i) => Math.floor(i / stride) % 3 === channel);
        assert.equal(members.length, kernel.length / 3, `${name} channel ${channel}`);
        assert.ok(new Set(members).size <= 2, `${name} channel ${channel} has ${new Set(members).size} values`);
      }
      assert.ok(new Set(kernel).size > 2, `${name} kernel has only ${new Set(kernel).size} values`);
      model.dispose();
    }
  });

  it('keeps no tensors after strip', async () => {
    const model = convClassifier();
    const data = classificationData(16, [6, 6, 1], 2, 11);
    const before = tf.memory().numTensors;
    const targets: ClusterTarget[] = [{ layer: model.layers[0]!, weightIndex: 0, numberOfClusters: 3 }];
    const session = ClusteringSession.start(model, targets, {
      method: 'linear',
      seed: 0,
      clusterPerChannel: true,
      preserveSparsity: true,
      gradientAggregation: 'avg',
    });
    await fineTune(session, data, OPTIONS);
    stripClustering(session);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([data.x, data.y]);
    model.dispose();
  });
});
