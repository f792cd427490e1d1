import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { CentroidError } from '@centroid/contracts';
import { ClusteringSession, type ClusterTarget } from '../src/clustering-session.js';
import { evaluate } from '../src/evaluate.js';
import { fineTune, type FineTuneOptions } from '../src/fine-tune.js';
import { resolveLoss, type LossSpec } from '../src/losses.js';
import { countDistinct } from '../src/report.js';
import { clusterTargets, selectWeights } from '../src/select-weights.js';
import { stripClustering } from '../src/strip-clustering.js';
import { CATEGORICAL, classificationData, convClassifier, denseClassifier, weightValues, useTestBackend } from './fixtures.js';

function kernelTargets(model: tf.LayersModel, numberOfClusters: number): ClusterTarget[] {
  return model.layers.filter((layer) => layer.weights.length > 0).map((layer) => ({ layer, weightIndex: 0, numberOfClusters }));
}

const OPTIONS: FineTuneOptions = { epochs: 1, batchSize: 16, learningRate: 0.01, seed: 5, loss: CATEGORICAL };

describe('clustered fine-tuning', () => {
  before(async () => {
    await useTestBackend();
  });

  it('reduces the loss of the clustered model', async () => {
    const model = denseClassifier();
    const data = classificationData(64, [4], 3, 1);
    const session = ClusteringSession.start(model, kernelTargets(model, 4), { method: 'kmeans_plus_plus', seed: 1 });

    const start = await evaluate(model, data.x, data.y, CATEGORICAL, 32);
    const result = await fineTune(session, data, { ...OPTIONS, epochs: 8 });
    const end = await evaluate(model, data.x, data.y, CATEGORICAL, 32);

    assert.ok(end.loss < start.loss * 0.9, `loss went from ${start.loss} to ${end.loss}`);
    assert.equal(result.steps, 8 * 4);
    assert.ok((result.finalLoss as number) < (result.epochs[0]?.loss as number));
    session.dispose();
    tf.dispose([data.x, data.y]);
  });

  it('moves the centroids and the latent weights', async () => {
    const model = denseClassifier();
    const data = classificationData(32, [4], 3, 2);
    const [target] = kernelTargets(model, 4) as [ClusterTarget];
    const session = ClusteringSession.start(model, [target], { method: 'linear', seed: 0 });
    const centroidsBefore = session.centroids(target);
    const latentBefore = session.latentWeights(target);

    await fineTune(session, data, OPTIONS);
    assert.notDeepEqual(session.centroids(target), centroidsBefore);
    assert.notDeepEqual(session.latentWeights(target), latentBefore);
    session.dispose();
    tf.dispose([data.x, data.y]);
  });

  it('repeats exactly for the same seed', async () => {
    const runs: Float32Array[][] = [];
    for (let run = 0; run < 2; run++) {
      const model = denseClassifier(3);
      const data = classificationData(40, [4], 3, 3);
      const session = ClusteringSession.start(model, kernelTargets(model, 4), { method: 'kmeans_plus_plus', seed: 2 });
      await fineTune(session, data, { ...OPTIONS, epochs: 2 });
      stripClustering(session);
      runs.push(weightValues(model));
      tf.dispose([data.x, data.y]);
    }
    assert.deepEqual(runs[0], runs[1]);
  });

  it('trains biases by default, as TFMOT does', async () => {
    const model = denseClassifier();
    const data = classificationData(32, [4], 3, 4);
    const bias = model.layers[0]!.weights[1]!;
    const biasBefore = Float32Array.from(bias.read().dataSync() as Float32Array);
    const session = ClusteringSession.start(model, kernelTargets(model, 4), { method: 'linear', seed: 0 });

    await fineTune(session, data, OPTIONS);
    assert.notDeepEqual(Float32Array.from(bias.read().dataSync() as Float32Array), biasBefore);
    session.dispose();
    tf.dispose([data.x, data.y]);
  });

  it('leaves unclustered weights bit-identical when asked', async () => {
    const model = denseClassifier();
    const data = classificationData(32, [4], 3, 5);
    const biases = [model.layers[0]!.weights[1]!, model.layers[1]!.weights[1]!];
    const before = biases.map((bias) => Float32Array.from(bias.read().dataSync() as Float32Array));
    const session = ClusteringSession.start(model, kernelTargets(model, 4), { method: 'linear', seed: 0 });

    await fineTune(session, data, { ...OPTIONS, trainUnclusteredWeights: false });
    stripClustering(session);
    assert.deepEqual(
      biases.map((bias) => Float32Array.from(bias.read().dataSync() as Float32Array)),
      before,
    );
    tf.dispose([data.x, data.y]);
  });

  it('holds out the last samples for validation', async () => {
    const model = denseClassifier();
    const data = classificationData(10, [4], 3, 6);
    const session = ClusteringSession.start(model, kernelTargets(model, 4), { method: 'linear', seed: 0 });

    const result = await fineTune(session, data, { ...OPTIONS, batchSize: 4, epochs: 2, validationSplit: 0.25 });
    // Keras splits at floor(10 · 0.75) = 7.
    assert.equal(result.trainSamples, 7);
    assert.equal(result.validationSamples, 3);
    assert.equal(result.steps, 2 * 2);
    assert.equal(result.epochs[1]?.validation?.samples, 3);

    const lastThree = { x: tf.slice(data.x, 7, 3), y: tf.slice(data.y, 7, 3) };
    const expected = await evaluate(model, lastThree.x, lastThree.y, CATEGORICAL, 4);
    assert.equal(result.epochs[1]?.validation?.loss, expected.loss);
    session.dispose();
    tf.dispose([data.x, data.y, lastThree.x, lastThree.y]);
  });

  it('rejects a split that leaves no training samples', async () => {
    const model = denseClassifier();
    const data = classificationData(2, [4], 3, 7);
    const session = ClusteringSession.start(model, kernelTargets(model, 4), { method: 'linear', seed: 0 });
    await assert.rejects(
      fineTune(session, data, { ...OPTIONS, validationSplit: 0.6 }),
      (error: unknown) => error instanceof CentroidError && error.code === 'PARAMS_INVALID' && error.location.field === 'fine_tune.validation_split',
    );
    session.dispose();
    tf.dispose([data.x, data.y]);
  });

  it('reports every batch and keeps the tensor count flat', async () => {
    const model = denseClassifier();
    const data = classificationData(40, [4], 3, 8);
    const session = ClusteringSession.start(model, kernelTargets(model, 4), { method: 'linear', seed: 0 });
    const counts: number[] = [];
    const batches: string[] = [];

    const tensorsBefore = tf.memory().numTensors;
    await fineTune(session, data, {
      ...OPTIONS,
      epochs: 2,
      onBatch: ({ epoch, epochs, batch, batches: total, loss }) => {
        counts.push(tf.memory().numTensors);
        batches.push(`${epoch}/${epochs} ${batch}/${total}`);
        assert.ok(Number.isFinite(loss));
      },
    });

    assert.deepEqual(batches, ['1/2 1/3', '1/2 2/3', '1/2 3/3', '2/2 1/3', '2/2 2/3', '2/2 3/3']);
    // The optimizer creates its moment variables on the first step, then nothing grows.
    assert.equal(new Set(counts.slice(1)).size, 1, `tensor counts per batch: ${counts.join(', ')}`);
    // They are freed again at the end.
    assert.equal(tf.memory().numTensors, tensorsBefore);
    session.dispose();
    tf.dispose([data.x, data.y]);
  });

  it('stops with JOB_CANCELED when the signal aborts', async () => {
    const model = denseClassifier();
    const data = classificationData(64, [4], 3, 9);
    const session = ClusteringSession.start(model, kernelTargets(model, 4), { method: 'linear', seed: 0 });
    const controller = new AbortController();
    let batchesRun = 0;

    await assert.rejects(
      fineTune(session, data, {
        ...OPTIONS,
        signal: controller.signal,
        onBatch: () => {
          batchesRun++;
          setImmediate(() => controller.abort());
        },
      }),
      (error: unknown) => error instanceof CentroidError && error.code === 'JOB_CANCELED',
    );
    assert.equal(batchesRun, 1);
    session.dispose();
    tf.dispose([data.x, data.y]);
  });

  it('rejects labels that do not fit the output', async () => {
    const model = denseClassifier();
    const data = classificationData(8, [4], 2, 10);
    const session = ClusteringSession.start(model, kernelTargets(model, 4), { method: 'linear', seed: 0 });
    await assert.rejects(fineTune(session, data, OPTIONS), (error: unknown) => error instanceof CentroidError && error.code === 'DATASET_SHAPE_MISMATCH');
    session.dispose();
    tf.dispose([data.x, data.y]);
  });
});

describe('strip after fine-tuning', () => {
  before(async () => {
    await useTestBackend();
  });

  for (const [name, build, inputShape, classes] of [
    ['Dense', denseClassifier, [4], 3],
    ['Conv2D', convClassifier, [6, 6, 1], 2],
  ] as const) {
    it(`leaves at most N values per ${name} model kernel`, async () => {
      const model = build();
      const data = classificationData(16, [...inputShape], classes, 11);
      const targets = kernelTargets(model, 4);
      const session = ClusteringSession.start(model, targets, { method: 'kmeans_plus_plus', seed: 0 });
      await fineTune(session, data, { ...OPTIONS, batchSize: 8, epochs: 2 });
      const predictionBefore = (model.predict(data.x) as tf.Tensor).arraySync() as number[][];

      const stripped = stripClustering(session);
      for (const target of targets) {
        const values = Float32Array.from(target.layer.weights[0]!.read().dataSync() as Float32Array);
        assert.ok(new Set(values).size <= 4, `${target.layer.name} has ${new Set(values).size} distinct values`);
        assert.deepEqual(stripped.get(target), values);
      }
      // Biases are trained, not clustered, so they keep one value per unit.
      const firstBias = model.layers[0]!.weights[1]!.read().dataSync();
      assert.equal(new Set(firstBias).size, firstBias.length);

      // The model is plain again, so no own reads are left and predictions equal the clustered forward pass.
      for (const variable of model.weights) assert.ok(!Object.prototype.hasOwnProperty.call(variable, 'read'), variable.name);
      const predictionAfter = (model.predict(data.x) as tf.Tensor).arraySync() as number[][];
      predictionAfter.forEach((row, i) =>
        row.forEach((value, j) => assert.ok(Math.abs(value - (predictionBefore[i]?.[j] as number)) < 1e-6, `sample ${i} class ${j}`)),
      );
      tf.dispose([data.x, data.y]);
    });
  }

  it('clusters embedding and recurrent kernels end to end', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.embedding({ inputDim: 10, outputDim: 4, inputLength: 5 }),
        tf.layers.bidirectional({ layer: tf.layers.lstm({ units: 3 }) as tf.RNN }),
        tf.layers.dense({ units: 2, activation: 'softmax' }),
      ],
    });
    const targets = clusterTargets(selectWeights(model, 3));
    const x = tf.tensor2d([[1, 2, 3, 4, 5], [0, 9, 8, 7, 6], [3, 3, 3, 1, 1], [5, 4, 3, 2, 1]]);
    const y = tf.tensor1d([0, 1, 1, 0]);
    const loss = resolveLoss({ loss: 'sparse_categorical_crossentropy' }, [null, 2]) as LossSpec;

    const session = ClusteringSession.start(model, targets, { method: 'kmeans_plus_plus', seed: 0 });
    const result = await fineTune(session, { x, y }, { ...OPTIONS, batchSize: 2, loss });
    const stripped = stripClustering(session);

    // Embeddings, then kernel and recurrent kernel of both LSTM directions, then the Dense kernel.
    assert.equal(targets.length, 6);
    assert.equal(result.steps, 2);
    for (const [target, values] of stripped) {
      assert.ok(countDistinct(values) <= 3, `${target.layer.name} weight ${target.weightIndex}`);
    }
    tf.dispose([x, y]);
  });

  it('without fine-tuning keeps unclustered weights bit-identical', () => {
    const model = convClassifier();
    const before = weightValues(model);
    const targets = kernelTargets(model, 3);
    stripClustering(ClusteringSession.start(model, targets, { method: 'density_based', seed: 0 }));

    const after = weightValues(model);
    model.weights.forEach((variable, i) => {
      const isClustered = targets.some((target) => target.layer.weights[target.weightIndex] === variable);
      if (isClustered) assert.ok(new Set(after[i]).size <= 3, variable.name);
      else assert.deepEqual(after[i], before[i], variable.name);
    });
  });

  it('leaks no tensors from start to strip', async () => {
    const model = denseClassifier();
    const data = classificationData(16, [4], 3, 12);
    const tensorsBefore = tf.memory().numTensors;
    const session = ClusteringSession.start(model, kernelTargets(model, 4), { method: 'linear', seed: 0 });
    await fineTune(session, data, { ...OPTIONS, validationSplit: 0.25 });
    stripClustering(session);
    assert.equal(tf.memory().numTensors, tensorsBefore);
    tf.dispose([data.x, data.y]);
  });
});
