// Profile of Centroid's fine-tuning step, split into the parts that `fineTune` runs per
// batch: gathering the batch, the forward pass, the forward plus backward pass and the
// Adam update. The nearest-centroid assignment of every clustered kernel, which the
// forward pass contains, is also timed on its own. Each part is timed separately over the
// same batches, so the parts overlap and their sum is not one step. For comparison, one
// plain training step of the unclustered model (every trainable weight, as Keras trains
// it) is timed on the same batches first, and the TensorFlow.js kernels of one clustered
// step are listed by their time.
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
    /** Forward, backward and Adam update of the unclustered model, every trainable weight. */
    plain_step: number;
  };
  /** Kernels of one clustered step (forward, backward, update), the slowest first, with their total milliseconds. */
  kernels: { name: string; ms: number }[];
}

/** Kernels listed in the profile. */
const LISTED_KERNELS = 12;

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
  const plainStepMs = timePlainSteps(model, dataset.train!.x, dataset.train!.y, loss, params, steps);

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
  let kernelTimes: { name: string; ms: number }[] = [];

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

    kernelTimes = await profileKernels(() => {
      const indices = tf.range(0, batchSize, 1, 'int32');
      const { grads } = tf.variableGrads(() => {
        const prediction = model.apply(tf.gather(x, indices), { training: true }) as TF.Tensor;
        return meanLoss(loss, tf.gather(y, indices), prediction) as TF.Scalar;
      }, variables);
      optimizer.applyGradients(grads as Parameters<typeof optimizer.applyGradients>[0]);
      variables[0]!.dataSync();
    });
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
      plain_step: Math.round(plainStepMs * 10) / 10,
    },
    kernels: kernelTimes,
  };
}

/**
 * Returns the mean milliseconds of one plain training step of `model` (forward,
 * backward and Adam update of every trainable weight, loss read back) over `steps`
 * batches, after the warm-up batches. Leaves the weights as they were.
 */
function timePlainSteps(
  model: TF.LayersModel,
  x: TF.Tensor,
  y: TF.Tensor,
  loss: NonNullable<ReturnType<typeof resolveLoss>>,
  params: JobParams,
  steps: number,
): number {
  const batchSize = params.fine_tune.batch_size;
  const variables = model.trainableWeights.map((weight) => weight.read() as TF.Variable);
  const saved = variables.map((variable) => variable.clone());
  const optimizer = tf.train.adam(params.fine_tune.learning_rate, 0.9, 0.999, 1e-7);
  let total = 0;
  try {
    for (let step = 0; step < steps + WARMUP_STEPS; step++) {
      const started = performance.now();
      tf.tidy(() => {
        const indices = tf.range(step * batchSize, (step + 1) * batchSize, 1, 'int32');
        const { value, grads } = tf.variableGrads(() => {
          const prediction = model.apply(tf.gather(x, indices), { training: true }) as TF.Tensor;
          return meanLoss(loss, tf.gather(y, indices), prediction) as TF.Scalar;
        }, variables);
        optimizer.applyGradients(grads as Parameters<typeof optimizer.applyGradients>[0]);
        value.dataSync();
      });
      if (step >= WARMUP_STEPS) total += performance.now() - started;
    }
  } finally {
    optimizer.dispose();
    variables.forEach((variable, i) => variable.assign(saved[i]!));
    tf.dispose(saved);
  }
  return total / steps;
}

/** Runs `step` once under tf.profile and returns the total time of each kernel name, the slowest first. */
async function profileKernels(step: () => void): Promise<{ name: string; ms: number }[]> {
  const info = await tf.profile(() => tf.tidy(step));
  const totals = new Map<string, number>();
  for (const kernel of info.kernels) {
    // The clustered weight's custom gradient op is recorded as 'unnamed scope', with the
    // time of the kernels inside it, which are listed on their own.
    if (kernel.name === 'unnamed scope') continue;
    const ms = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    totals.set(kernel.name, (totals.get(kernel.name) ?? 0) + ms);
  }
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, LISTED_KERNELS)
    .map(([name, ms]) => ({ name, ms: Math.round(ms * 10) / 10 }));
}
