// Profile of Centroid's fine-tuning step, split into the parts that `fineTune` runs per
// batch: gathering the batch, the forward pass, the forward plus backward pass and the
// Adam update. The nearest-centroid assignment of every clustered kernel, which the
// forward pass contains, is also timed on its own. Each part is timed separately over the
// same batches, so the parts overlap and their sum is not one step.
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as TF from '../../packages/engine/node_modules/@tensorflow/tfjs/dist/index.js';
import type { JobParams } from '../../packages/contracts/src/index.js';
import {
  ClusteringSession,
  clusteredWeight,
  meanLoss,
  resolveLoss,
  selectWeights,
  type ClusterTarget,
} from '../../packages/engine/src/index.js';
import { readKerasH5, readNpz, toLayersModel } from '../../packages/model-io/src/index.js';
import { disposeDataset, prepareDataset } from '../../packages/pipeline/src/prepare-dataset.js';

// The engine's own copy of TensorFlow.js, so that the backend that `selectBackend`
// activated is the one used here. The root package does not depend on it.
const tf = createRequire(path.resolve(import.meta.dirname, '../../packages/engine/package.json'))('@tensorflow/tfjs') as typeof TF;

export interface StepProfile {
  /** Batches timed after the warm-up batches. */
  steps: number;
  batch_size: number;
  /** Mean milliseconds per batch of each part. */
  mean_ms: {
    gather_batch: number;
    centroid_assignment: number;
    forward: number;
    forward_backward: number;
    optimizer_update: number;
  };
}

const WARMUP_STEPS = 2;

/**
 * Times `steps` batches of the fine-tuning step on the first training samples, with the
 * backend already selected by the caller. Biases stay frozen, as in the pipeline.
 */
export async function profileSteps(modelPath: string, datasetPath: string, params: JobParams, steps: number): Promise<StepProfile> {
  const batchSize = params.fine_tune.batch_size;
  const source = await readKerasH5(modelPath, path.basename(modelPath));
  const { model } = await toLayersModel(source);
  const loss = resolveLoss(source.trainingConfig, model.outputs[0]!.shape);
  if (loss === null) throw new Error(`${modelPath} has no training config, so its loss is unknown and fine-tuning cannot be profiled`);

  const arrays = await readNpz(datasetPath, { filename: path.basename(datasetPath) });
  const dataset = prepareDataset(
    arrays,
    params.dataset,
    {
      inputShape: model.inputs[0]!.shape,
      outputShape: model.outputs[0]!.shape,
      labelForm: loss.labelForm,
      needsTrain: true,
      maxTrainSamples: batchSize * (steps + WARMUP_STEPS),
    },
    path.basename(datasetPath),
  );
  const targets: ClusterTarget[] = selectWeights(model, params.number_of_clusters)
    .filter((weight) => weight.clusterable)
    .map((weight) => ({ layer: weight.layer, weightIndex: weight.weightIndex, numberOfClusters: params.number_of_clusters }));
  const session = ClusteringSession.start(model, targets, { method: params.cluster_centroids_init, seed: params.fine_tune.seed });
  const optimizer = tf.train.adam(params.fine_tune.learning_rate, 0.9, 0.999, 1e-7);
  const variables = session.trainingVariables(false);
  const kernels = targets.map((target) => ({
    latent: tf.tensor(session.latentWeights(target), target.layer.weights[target.weightIndex]!.shape as number[]),
    centroids: tf.tensor1d(session.centroids(target)),
  }));
  const totals = { gather_batch: 0, centroid_assignment: 0, forward: 0, forward_backward: 0, optimizer_update: 0 };

  try {
    const { x, y } = dataset.train!;
    for (let step = 0; step < steps + WARMUP_STEPS; step++) {
      const measured = step >= WARMUP_STEPS;
      const indices = tf.range(step * batchSize, (step + 1) * batchSize, 1, 'int32');

      // Every part ends with dataSync, which waits for the backend to finish the work.
      let started = performance.now();
      tf.tidy(() => {
        tf.gather(x, indices).dataSync();
        tf.gather(y, indices).dataSync();
      });
      if (measured) totals.gather_batch += performance.now() - started;

      started = performance.now();
      tf.tidy(() => {
        for (const kernel of kernels) clusteredWeight(kernel.latent, kernel.centroids).dataSync();
      });
      if (measured) totals.centroid_assignment += performance.now() - started;

      const xBatch = tf.gather(x, indices);
      const yBatch = tf.gather(y, indices);
      started = performance.now();
      tf.tidy(() => {
        const prediction = model.apply(xBatch, { training: true }) as TF.Tensor;
        meanLoss(loss, yBatch, prediction).dataSync();
      });
      if (measured) totals.forward += performance.now() - started;

      started = performance.now();
      const { value, grads } = tf.variableGrads(() => {
        const prediction = model.apply(xBatch, { training: true }) as TF.Tensor;
        return meanLoss(loss, yBatch, prediction) as TF.Scalar;
      }, variables);
      value.dataSync();
      for (const gradient of Object.values(grads)) gradient.dataSync();
      if (measured) totals.forward_backward += performance.now() - started;

      started = performance.now();
      optimizer.applyGradients(grads as Parameters<typeof optimizer.applyGradients>[0]);
      variables[0]!.dataSync();
      if (measured) totals.optimizer_update += performance.now() - started;

      tf.dispose([indices, xBatch, yBatch, value, ...Object.values(grads)]);
    }
  } finally {
    tf.dispose(kernels.flatMap((kernel) => [kernel.latent, kernel.centroids]));
    optimizer.dispose();
    session.dispose();
    disposeDataset(dataset);
    model.dispose();
  }

  const mean = (total: number) => Math.round((total / steps) * 10) / 10;
  return {
    steps,
    batch_size: batchSize,
    mean_ms: {
      gather_batch: mean(totals.gather_batch),
      centroid_assignment: mean(totals.centroid_assignment),
      forward: mean(totals.forward),
      forward_backward: mean(totals.forward_backward),
      optimizer_update: mean(totals.optimizer_update),
    },
  };
}
