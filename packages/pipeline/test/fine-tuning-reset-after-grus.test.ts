// Fine-tunes the Keras 3 GRU fixture, whose GRU has Keras' default reset_after=True,
// with the engine's clustering session, to show that gradients reach its centroids.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs';
import { ClusteringSession, clusterTargets, fineTune, resolveLoss, selectWeights, type LossSpec } from '@centroid/engine';
import { fixturePath } from '@centroid/examples';
import { readModel, toLayersModel } from '@centroid/model-io';

const CLUSTERS = 4;

describe('GRU with reset_after=True in fine-tuning', () => {
  it('selects kernels as GRU weights', async () => {
    const { model } = await toLayersModel(await readModel(fixturePath('formats/keras3/gru.h5')));
    const gruWeights = selectWeights(model, CLUSTERS).filter((selection) => selection.layer.getClassName() === 'GRU');

    assert.deepEqual(
      gruWeights.map((selection) => [selection.weightName.split('/').pop(), selection.clusterable]),
      [
        ['kernel', true],
        ['recurrent_kernel', true],
        ['bias', false],
      ],
    );
    model.dispose();
  });

  it('one step moves both GRU centroids', async () => {
    const { model } = await toLayersModel(await readModel(fixturePath('formats/keras3/gru.h5')));
    const targets = clusterTargets(selectWeights(model, CLUSTERS)).filter((target) => target.layer.getClassName() === 'GRU');
    assert.equal(targets.length, 2);
    const session = ClusteringSession.start(model, targets, { method: 'linear', seed: 0 });
    const before = targets.map((target) => Array.from(session.centroids(target)));

    const x = tf.randomNormal([4, 5, 3], 0, 1, 'float32', 3);
    const y = tf.randomNormal([4, 2], 0, 1, 'float32', 4);
    const loss = resolveLoss({ loss: 'mean_squared_error' }, [null, 2]) as LossSpec;
    const result = await fineTune(session, { x, y }, { epochs: 1, batchSize: 4, learningRate: 0.01, seed: 1, loss });

    assert.equal(result.steps, 1);
    targets.forEach((target, index) => {
      assert.notDeepEqual(Array.from(session.centroids(target)), before[index], `centroids of GRU weight ${target.weightIndex} did not move`);
    });
    session.dispose();
    tf.dispose([x, y]);
    model.dispose();
  });
});
