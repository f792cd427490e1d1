import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { clusterTargets, findNothingClustered, selectWeights, type WeightSelection } from '../src/select-weights.js';
import { useTestBackend } from './fixtures.js';

/** A layer class the clustering rules do not know, with one weight. */
class ScaleLayer extends tf.layers.Layer {
  static className = 'ScaleLayer';
  override build(): void {
    this.addWeight('scale', [1], 'float32', tf.initializers.ones());
    this.built = true;
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const input = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
    return tf.mul(input, this.weights[0]!.read());
  }
}

function decision(selections: WeightSelection[], weightName: string): WeightSelection {
  const found = selections.find((selection) => selection.weightName === weightName);
  assert.ok(found, `no selection for ${weightName}: ${selections.map((selection) => selection.weightName).join(', ')}`);
  return found;
}

describe('weight selection', () => {
  before(async () => {
    await useTestBackend();
  });

  it('clusters kernels of Dense and convolutions, never biases', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv1d({ name: 'c1', inputShape: [8, 2], filters: 3, kernelSize: 3 }),
        tf.layers.reshape({ targetShape: [6, 3, 1] }),
        tf.layers.conv2d({ name: 'c2', filters: 2, kernelSize: 2 }),
        tf.layers.conv2dTranspose({ name: 'ct', filters: 2, kernelSize: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ name: 'd', units: 4 }),
      ],
    });
    const selections = selectWeights(model, 4);

    for (const [name, className] of [['c1', 'Conv1D'], ['c2', 'Conv2D'], ['ct', 'Conv2DTranspose'], ['d', 'Dense']]) {
      assert.deepEqual(
        { clusterable: decision(selections, `${name}/kernel`).clusterable, reason: decision(selections, `${name}/kernel`).reason },
        { clusterable: true, reason: `kernel of ${className}` },
      );
      assert.equal(decision(selections, `${name}/bias`).clusterable, false);
      assert.equal(decision(selections, `${name}/bias`).reason, `bias of ${className}: never clustered unless cluster_biases is set`);
    }
    assert.equal(selections.length, 8);
  });

  it('never clusters normalization or depthwise kernels', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.depthwiseConv2d({ name: 'dw', inputShape: [5, 5, 3], kernelSize: 3 }),
        tf.layers.batchNormalization({ name: 'bn' }),
        tf.layers.layerNormalization({ name: 'ln' }),
      ],
    });
    const selections = selectWeights(model, 2);

    assert.ok(selections.every((selection) => !selection.clusterable));
    assert.match(decision(selections, 'dw/depthwise_kernel').reason, /depthwise kernels are not clustered by default, because it costs accuracy/);
    assert.match(decision(selections, 'bn/moving_mean').reason, /of BatchNormalization are never clustered/);
    assert.match(decision(selections, 'ln/gamma').reason, /of LayerNormalization are never clustered/);
  });

  it('skips a kernel no larger than the clusters', () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ name: 'small', inputShape: [2], units: 3 })] });
    const kernel = decision(selectWeights(model, 6), 'small/kernel');
    assert.equal(kernel.clusterable, false);
    assert.match(kernel.reason, /6 weights, no more than the 6 clusters/);
    assert.equal(decision(selectWeights(model, 5), 'small/kernel').clusterable, true);
  });

  it('skips per-channel kernels with small channels', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ name: 'conv', inputShape: [6, 6, 1], filters: 32, kernelSize: 3 }),
        tf.layers.conv2dTranspose({ name: 'up', filters: 2, kernelSize: 3 }),
        tf.layers.flatten(),
        tf.layers.dense({ name: 'head', units: 2 }),
      ],
    });
    const params = (numberOfClusters: number, clusterPerChannel: boolean) => ({
      number_of_clusters: numberOfClusters,
      cluster_centroids_init: 'kmeans_plus_plus' as const,
      preserve_sparsity: false,
      cluster_per_channel: clusterPerChannel,
      cluster_depthwise: false,
      cluster_biases: false,
    });

    // 3x3x1x32 has 288 weights, but each output channel has only 9.
    const perChannel = selectWeights(model, params(16, true));
    const conv = decision(perChannel, 'conv/kernel');
    assert.equal(conv.clusterable, false);
    assert.equal(
      conv.reason,
      'kernel of Conv2D: 9 weights per output channel (axis 3), no more than the 16 clusters per channel, so per-channel clustering cannot shrink it',
    );
    assert.deepEqual(conv.tooFewWeights, { weights: 9, clusters: 16, perChannel: true });
    // The transposed kernel 3x3x2x32 is split along axis 2, so each of its 2 channels has 288 weights.
    assert.equal(decision(perChannel, 'up/kernel').clusterable, true);
    // A Dense kernel is clustered per tensor even with cluster_per_channel.
    assert.equal(decision(perChannel, 'head/kernel').clusterable, true);
    assert.deepEqual(
      clusterTargets(perChannel).map((target) => target.layer.name),
      ['up', 'head'],
    );

    assert.equal(decision(selectWeights(model, params(16, false)), 'conv/kernel').clusterable, true, 'per tensor, 288 weights exceed 16 clusters');
    assert.equal(decision(selectWeights(model, params(8, true)), 'conv/kernel').clusterable, true, '9 weights per channel exceed 8 clusters');
    assert.equal(decision(selectWeights(model, params(9, true)), 'conv/kernel').clusterable, false, '9 weights per channel equal 9 clusters');
  });

  it('warns when every candidate is too small', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ name: 'wide', inputShape: [6], units: 5 }),
        tf.layers.batchNormalization({ name: 'bn' }),
        tf.layers.dense({ name: 'narrow', units: 2 }),
      ],
    });
    // The kernels have 30 and 10 weights.
    const warning = findNothingClustered(selectWeights(model, 30));
    assert.equal(warning?.code, 'NOTHING_CLUSTERED');
    assert.equal(
      warning?.message,
      'No weight was clustered, so the model is returned unchanged: all 2 candidate weight tensors have no more weights than number_of_clusters (30). ' +
        'The largest has 30 weights, so at most 29 clusters would shrink it.',
    );
    assert.equal(findNothingClustered(selectWeights(model, 29)), null, 'wide/kernel is clustered');
  });

  it('warns for too small channels', () => {
    const model = tf.sequential({ layers: [tf.layers.conv2d({ name: 'conv', inputShape: [6, 6, 1], filters: 32, kernelSize: 3 })] });
    const selections = selectWeights(model, {
      number_of_clusters: 16,
      cluster_centroids_init: 'kmeans_plus_plus',
      preserve_sparsity: false,
      cluster_per_channel: true,
      cluster_depthwise: false,
      cluster_biases: false,
    });
    assert.equal(
      findNothingClustered(selections)?.message,
      'No weight was clustered, so the model is returned unchanged: the only candidate weight tensor has no more weights than number_of_clusters (16), ' +
        'counted per output channel for the 1 kernel(s) clustered per channel. The largest has 9 weights per output channel, so at most 8 clusters would shrink it.',
    );
  });

  it('does not warn without candidates', () => {
    // Normalization weights are never clustered, so a model of normalization layers has no candidates.
    const model = tf.sequential({ layers: [tf.layers.batchNormalization({ name: 'bn', inputShape: [4] })] });
    assert.equal(findNothingClustered(selectWeights(model, 60000)), null);
    assert.equal(findNothingClustered([]), null);
  });

  it('skips an unknown layer and clusters the rest', () => {
    const input = tf.input({ shape: [4] });
    const scaled = new ScaleLayer({ name: 'scale' }).apply(input) as tf.SymbolicTensor;
    const output = tf.layers.dense({ name: 'out', units: 4 }).apply(scaled) as tf.SymbolicTensor;
    const selections = selectWeights(tf.model({ inputs: input, outputs: output }), 2);

    assert.deepEqual(
      { clusterable: decision(selections, 'scale/scale').clusterable, reason: decision(selections, 'scale/scale').reason },
      { clusterable: false, reason: 'unknown layer class ScaleLayer: not clustered' },
    );
    assert.equal(decision(selections, 'out/kernel').clusterable, true);
  });

  it('clusters embeddings, pointwise and recurrent kernels', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.embedding({ name: 'emb', inputDim: 10, outputDim: 4, inputLength: 6 }),
        tf.layers.lstm({ name: 'lstm', units: 3, returnSequences: true }),
        tf.layers.reshape({ targetShape: [6, 3, 1] }),
        tf.layers.separableConv2d({ name: 'sep', filters: 4, kernelSize: 2 }),
      ],
    });
    const selections = selectWeights(model, 2);

    assert.equal(decision(selections, 'emb/embeddings').clusterable, true);
    assert.equal(decision(selections, 'lstm/kernel').reason, 'kernel of LSTM');
    assert.equal(decision(selections, 'lstm/recurrent_kernel').clusterable, true);
    assert.equal(decision(selections, 'lstm/bias').clusterable, false);
    assert.equal(decision(selections, 'sep/pointwise_kernel').clusterable, true);
    assert.match(decision(selections, 'sep/depthwise_kernel').reason, /depthwise kernels are not clustered by default/);
  });

  it('looks through Bidirectional to the wrapped layer', () => {
    const model = tf.sequential({
      layers: [tf.layers.bidirectional({ inputShape: [5, 2], layer: tf.layers.simpleRNN({ units: 4 }) as tf.RNN })],
    });
    const kernels = selectWeights(model, 2).filter((selection) => selection.weightName.endsWith('/kernel'));
    assert.equal(kernels.length, 2);
    assert.ok(kernels.every((selection) => selection.clusterable));
    assert.ok(kernels.every((selection) => selection.reason === 'kernel of SimpleRNN in Bidirectional'));
  });

  it('marks a frozen layer in its reason', () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ name: 'frozen', inputShape: [4], units: 4, trainable: false })] });
    const kernel = decision(selectWeights(model, 2), 'frozen/kernel');
    assert.equal(kernel.clusterable, true);
    assert.match(kernel.reason, /frozen/);
  });

  it('turns clusterable selections into targets', () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ name: 'd', inputShape: [4], units: 4 })] });
    const targets = clusterTargets(selectWeights(model, 3));
    assert.deepEqual(
      targets.map((target) => ({ layer: target.layer.name, weightIndex: target.weightIndex, numberOfClusters: target.numberOfClusters })),
      [{ layer: 'd', weightIndex: 0, numberOfClusters: 3 }],
    );
  });
});
