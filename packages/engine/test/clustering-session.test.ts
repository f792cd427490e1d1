import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { CentroidError } from '@centroid/contracts';
import { assignClusters } from '../src/assign-clusters.js';
import { ClusteringSession, type ClusterTarget } from '../src/clustering-session.js';
import { denseClassifier, setEnvironmentForTest, weightValues, useTestBackend } from './fixtures.js';

function kernelTargets(model: tf.LayersModel, numberOfClusters: number): ClusterTarget[] {
  return model.layers.map((layer) => ({ layer, weightIndex: 0, numberOfClusters }));
}

function hasOwnRead(variable: tf.LayerVariable): boolean {
  return Object.prototype.hasOwnProperty.call(variable, 'read');
}

describe('clustering session', () => {
  before(async () => {
    await useTestBackend();
  });

  it('starts with centroids from the chosen initialisation', () => {
    const model = denseClassifier();
    const [first] = kernelTargets(model, 4) as [ClusterTarget];
    const kernel = Float32Array.from(model.layers[0]!.weights[0]!.read().dataSync() as Float32Array);
    const session = ClusteringSession.start(model, [first], { method: 'linear', seed: 0 });

    const centroids = session.centroids(first);
    assert.equal(centroids[0], Math.min(...kernel));
    assert.equal(centroids[3], Math.max(...kernel));
    session.dispose();
  });

  it('runs the layer on clustered weights', () => {
    const model = denseClassifier();
    const targets = kernelTargets(model, 3);
    const x = tf.tensor2d([[0.5, -1, 0.25, 2]]);
    const session = ClusteringSession.start(model, targets, { method: 'linear', seed: 0 });

    const [first] = targets as [ClusterTarget];
    const centroids = session.centroids(first);
    const assignment = assignClusters(session.latentWeights(first), centroids);
    const clusteredKernel = tf.tensor2d(Float32Array.from(assignment, (cluster) => centroids[cluster] as number), [4, 8]);
    const bias = model.layers[0]!.weights[1]!.read();
    const expected = tf.relu(tf.add(tf.matMul(x, clusteredKernel), bias));
    const actual = model.layers[0]!.apply(x) as tf.Tensor;

    assert.deepEqual([...actual.dataSync()].map((v) => v.toFixed(5)), [...expected.dataSync()].map((v) => v.toFixed(5)));
    session.dispose();
    tf.dispose([x, clusteredKernel, expected, actual]);
  });

  it('trains latent weights, centroids and other weights', () => {
    const model = denseClassifier();
    const session = ClusteringSession.start(model, kernelTargets(model, 3), { method: 'linear', seed: 0 });
    // Two latent and two centroid variables, plus the two biases.
    assert.equal(session.trainingVariables(true).length, 6);
    assert.equal(session.trainingVariables(false).length, 4);

    const originalKernel = model.layers[0]!.weights[0]!;
    const originalValue = (Object.getPrototypeOf(originalKernel) as tf.LayerVariable).read.call(originalKernel);
    assert.ok(!session.trainingVariables(true).includes(originalValue as tf.Variable));
    session.dispose();
  });

  it('restores reads and values on dispose', () => {
    const model = denseClassifier();
    const before = weightValues(model);
    const session = ClusteringSession.start(model, kernelTargets(model, 3), { method: 'kmeans_plus_plus', seed: 3 });
    assert.ok(hasOwnRead(model.layers[0]!.weights[0]!));

    session.dispose();
    assert.equal(session.isActive, false);
    for (const variable of model.weights) assert.ok(!hasOwnRead(variable), variable.name);
    assert.deepEqual(weightValues(model), before);
  });

  it('leaks no tensors from start to dispose', () => {
    const model = denseClassifier();
    const before = tf.memory().numTensors;
    ClusteringSession.start(model, kernelTargets(model, 3), { method: 'density_based', seed: 0 }).dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('rejects a missing weight index', () => {
    const model = denseClassifier();
    const target = { layer: model.layers[0]!, weightIndex: 5, numberOfClusters: 2 };
    assert.throws(
      () => ClusteringSession.start(model, [target], { method: 'linear', seed: 0 }),
      (error: unknown) =>
        error instanceof CentroidError && error.code === 'LAYER_NOT_CLUSTERABLE' && error.location.layer === model.layers[0]!.name,
    );
  });

  it('rejects a weight listed twice and leaves the model unpatched', () => {
    const model = denseClassifier();
    const target = { layer: model.layers[1]!, weightIndex: 0, numberOfClusters: 2 };
    assert.throws(() => ClusteringSession.start(model, [target, { ...target }], { method: 'linear', seed: 0 }), /listed twice/);
    assert.ok(!hasOwnRead(model.layers[1]!.weights[0]!));
  });

  it('rejects a weight with NaN', () => {
    const model = denseClassifier();
    const kernel = model.layers[0]!.weights[0]!;
    kernel.write(tf.fill(kernel.shape as number[], NaN));
    assert.throws(
      () => ClusteringSession.start(model, kernelTargets(model, 2), { method: 'linear', seed: 0 }),
      (error: unknown) => error instanceof CentroidError && error.code === 'LAYER_NOT_CLUSTERABLE' && /NaN at flat index 0/.test(error.message),
    );
    assert.ok(!hasOwnRead(kernel));
  });

  it('rejects a cluster count of zero', () => {
    const model = denseClassifier();
    assert.throws(
      () => ClusteringSession.start(model, kernelTargets(model, 0), { method: 'linear', seed: 0 }),
      (error: unknown) => error instanceof CentroidError && error.code === 'PARAMS_INVALID',
    );
  });

  it('names the layer when exact k-means lacks memory', (t) => {
    setEnvironmentForTest(t, 'CENTROID_KMEANS_MAX_BYTES', '1000');
    const model = denseClassifier();
    const targets = kernelTargets(model, 2);
    assert.throws(
      () => ClusteringSession.start(model, targets, { method: 'kmeans_1d_optimal', seed: 0 }),
      (error: unknown) =>
        error instanceof CentroidError &&
        error.code === 'LAYER_NOT_CLUSTERABLE' &&
        error.location.layer === targets[0]!.layer.name &&
        /^weight \S+kernel\S*: kmeans_1d_optimal needs about [\d.]+ KiB for the \d+ distinct values of this tensor, but only 1000 bytes are available/.test(error.message),
    );
    model.dispose();
  });

  it('rejects use after it has ended', () => {
    const model = denseClassifier();
    const targets = kernelTargets(model, 2);
    const session = ClusteringSession.start(model, targets, { method: 'linear', seed: 0 });
    session.dispose();
    assert.throws(() => session.centroids(targets[0]!), /has ended/);
  });
});
