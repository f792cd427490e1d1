import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type * as tf from '@tensorflow/tfjs';
import { ClusteringSession, type ClusterTarget } from '../src/clustering-session.js';
import { initialiseCentroids } from '../src/initialise-centroids.js';
import { convClassifier, denseClassifier, useTestBackend } from './fixtures.js';

function kernelOf(layer: tf.layers.Layer): Float32Array {
  return Float32Array.from(layer.weights[0]!.read().dataSync() as Float32Array);
}

describe('per-target options', () => {
  before(async () => {
    await useTestBackend();
  });

  it('target method overrides the session method', () => {
    const model = denseClassifier();
    const [first, second] = model.layers as [tf.layers.Layer, tf.layers.Layer];
    const targets: ClusterTarget[] = [
      { layer: first, weightIndex: 0, numberOfClusters: 4, options: { method: 'linear' } },
      { layer: second, weightIndex: 0, numberOfClusters: 3 },
    ];
    const session = ClusteringSession.start(model, targets, { method: 'density_based', seed: 0 });

    assert.deepEqual(session.centroids(targets[0]!), initialiseCentroids(kernelOf(first), 4, 'linear', 0));
    assert.deepEqual(session.centroids(targets[1]!), initialiseCentroids(kernelOf(second), 3, 'density_based', 0));
    session.dispose();
  });

  it('undefined target options fall back', () => {
    const model = convClassifier();
    const conv = model.layers[0] as tf.layers.Layer;
    const target: ClusterTarget = { layer: conv, weightIndex: 0, numberOfClusters: 3, options: { method: undefined, clusterPerChannel: undefined } };
    const session = ClusteringSession.start(model, [target], { method: 'linear', seed: 0, clusterPerChannel: true });

    assert.equal(session.centroidTableSize(target), 4 * 3, 'per channel from the session: 4 channels × 3 centroids');
    session.dispose();
  });

  it('per-target sparsity, channels and aggregation', () => {
    const model = convClassifier();
    const [conv, , dense] = model.layers as [tf.layers.Layer, tf.layers.Layer, tf.layers.Layer];
    const targets: ClusterTarget[] = [
      { layer: dense, weightIndex: 0, numberOfClusters: 3, options: { preserveSparsity: true } },
      { layer: conv, weightIndex: 0, numberOfClusters: 2, options: { clusterPerChannel: true, gradientAggregation: 'avg' } },
    ];
    const session = ClusteringSession.start(model, targets, { method: 'linear', seed: 0 });

    assert.match(session.clusteringNote(targets[0]!) ?? '', /preserve_sparsity/);
    assert.equal(session.centroidTableSize(targets[0]!), 3);
    assert.doesNotMatch(session.clusteringNote(targets[1]!) ?? '', /preserve_sparsity/);
    assert.match(session.clusteringNote(targets[1]!) ?? '', /per output channel/);
    assert.equal(session.centroidTableSize(targets[1]!), 4 * 2);
    session.dispose();
  });
});
