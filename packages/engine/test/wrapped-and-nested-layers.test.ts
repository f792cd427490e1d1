import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { JobParamsSchema } from '@centroid/contracts';
import { ClusteringSession } from '../src/clustering-session.js';
import { countDistinct } from '../src/report.js';
import { clusterTargets, selectWeights, type WeightSelection } from '../src/select-weights.js';
import { stripClustering } from '../src/strip-clustering.js';
import { useTestBackend, weightValues } from './fixtures.js';

const seeded = (seed: number) => tf.initializers.glorotUniform({ seed });
const bias = (seed: number) => tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed });

/**
 * Clusters `model` with N clusters and checks the invariants: every clustered tensor has
 * at most N distinct values, and every other tensor is bit-identical to before.
 * Returns the selections.
 */
function clusterAndCheck(model: tf.LayersModel, numberOfClusters: number, layers?: unknown[]): WeightSelection[] {
  const params = JobParamsSchema.parse({ number_of_clusters: numberOfClusters, cluster_centroids_init: 'linear', layers });
  const before = weightValues(model);
  const selections = selectWeights(model, params);
  const session = ClusteringSession.start(model, clusterTargets(selections), { method: 'linear', seed: 0 });
  stripClustering(session);
  const after = weightValues(model);

  model.weights.forEach((variable, index) => {
    const selection = selections.find((candidate) => candidate.layer.weights[candidate.weightIndex] === variable);
    assert.ok(selection, `no selection for ${variable.originalName}`);
    if (selection.clusterable) {
      assert.ok(countDistinct(after[index]!) <= numberOfClusters, `${variable.originalName} has ${countDistinct(after[index]!)} distinct values`);
      assert.ok(countDistinct(before[index]!) > numberOfClusters, `${variable.originalName} had more than N distinct values before`);
    } else {
      assert.deepEqual(after[index], before[index], `${variable.originalName} is untouched`);
    }
  });
  return selections;
}

function clusteredNames(selections: WeightSelection[]): string[] {
  return selections.filter((selection) => selection.clusterable).map((selection) => selection.weightName);
}

/** Dense 3 → 5 → 4 in a Sequential, with nonzero biases. */
function innerSequential(name: string): tf.Sequential {
  return tf.sequential({
    name,
    layers: [
      tf.layers.dense({ name: `${name}_a`, inputShape: [3], units: 5, kernelInitializer: seeded(1), biasInitializer: bias(2) }),
      tf.layers.dense({ name: `${name}_b`, units: 4, kernelInitializer: seeded(3), biasInitializer: bias(4) }),
    ],
  });
}

describe('wrapped and nested layers', () => {
  before(async () => {
    await useTestBackend();
  });

  it('clusters TimeDistributed(Dense) inside', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.timeDistributed({
          name: 'td',
          inputShape: [5, 4],
          layer: tf.layers.dense({ name: 'td_inner', units: 6, kernelInitializer: seeded(5), biasInitializer: bias(6) }),
        }),
      ],
    });
    const selections = clusterAndCheck(model, 4);

    assert.equal(clusteredNames(selections).length, 1);
    assert.match(selections.find((selection) => selection.clusterable)!.reason, /^kernel of Dense in TimeDistributed/);
  });

  it('clusters TimeDistributed(Conv2D) inside', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.timeDistributed({
          name: 'td_conv',
          inputShape: [3, 5, 5, 2],
          layer: tf.layers.conv2d({ filters: 3, kernelSize: 2, kernelInitializer: seeded(7), biasInitializer: bias(8) }),
        }),
      ],
    });
    const selections = clusterAndCheck(model, 3);

    assert.equal(clusteredNames(selections).length, 1);
    assert.match(selections.find((selection) => selection.clusterable)!.reason, /^kernel of Conv2D in TimeDistributed/);
  });

  it('matches rules on the wrapped layer', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.timeDistributed({ name: 'td', inputShape: [5, 4], layer: tf.layers.dense({ name: 'td_inner', units: 6, kernelInitializer: seeded(5) }) }),
        tf.layers.flatten(),
        tf.layers.dense({ name: 'head', units: 3, kernelInitializer: seeded(9) }),
      ],
    });
    const byClass = selectWeights(model, JobParamsSchema.parse({ number_of_clusters: 4, layers: [{ match: { class: 'Dense' }, action: 'exclude' }] }));
    assert.deepEqual(clusteredNames(byClass), []);

    const byInnerName = selectWeights(model, JobParamsSchema.parse({ number_of_clusters: 4, layers: [{ match: { name: 'td_inner' }, number_of_clusters: 2 }] }));
    const tdKernel = byInnerName.find((selection) => selection.layer.name === 'td' && selection.clusterable);
    assert.equal(tdKernel?.settings?.numberOfClusters, 2);
  });

  it('clusters a Sequential inside a functional model', () => {
    const input = tf.input({ shape: [3] });
    const inner = innerSequential('inner');
    const hidden = inner.apply(input) as tf.SymbolicTensor;
    const output = tf.layers.dense({ name: 'outer', units: 6, kernelInitializer: seeded(10), biasInitializer: bias(11) }).apply(hidden) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: output });

    const selections = clusterAndCheck(model, 3);

    assert.deepEqual(clusteredNames(selections), ['inner_a/kernel', 'inner_b/kernel', 'outer/kernel']);
  });

  it('clusters a functional model inside a Sequential', () => {
    const input = tf.input({ shape: [3] });
    const hidden = tf.layers.dense({ name: 'fn_a', units: 5, kernelInitializer: seeded(12), biasInitializer: bias(13) }).apply(input) as tf.SymbolicTensor;
    const output = tf.layers.dense({ name: 'fn_b', units: 4, kernelInitializer: seeded(14), biasInitializer: bias(15) }).apply(hidden) as tf.SymbolicTensor;
    const functional = tf.model({ name: 'fn', inputs: input, outputs: output });
    const model = tf.sequential({ layers: [functional, tf.layers.dense({ name: 'last', units: 5, kernelInitializer: seeded(16) })] });

    const selections = clusterAndCheck(model, 3);

    assert.deepEqual(clusteredNames(selections), ['fn_a/kernel', 'fn_b/kernel', 'last/kernel']);
    const byClass = selectWeights(model, JobParamsSchema.parse({ number_of_clusters: 3, layers: [{ match: { class: 'Functional' }, action: 'exclude' }] }));
    assert.deepEqual(clusteredNames(byClass), ['last/kernel'], 'the Keras class name Functional matches a TF.js Model');
  });

  it('rules by nested model name reach its layers', () => {
    const input = tf.input({ shape: [3] });
    const hidden = innerSequential('inner').apply(input) as tf.SymbolicTensor;
    const output = tf.layers.dense({ name: 'outer', units: 6, kernelInitializer: seeded(10) }).apply(hidden) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: output });

    const selections = clusterAndCheck(model, 3, [{ match: { name: 'inner' }, action: 'exclude' }]);

    assert.deepEqual(clusteredNames(selections), ['outer/kernel']);
  });
});
