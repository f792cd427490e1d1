// Times one clustered fine-tuning step of the example CNN against one plain training step
// of the same model. Both use the same batches of MNIST, batch size, Adam settings and
// trainable weights, except that clustering replaces each kernel by its latent weights
// and centroids.
// The clustered steps run through `fineTune` itself, timed between its onBatch calls. The
// plain steps run the same body as fineTune's step (gather the batch, forward and backward
// pass, Adam update, read the loss) on the unclustered model.
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as TF from '../../packages/engine/node_modules/@tensorflow/tfjs/dist/index.js';
import { JobParamsSchema } from '../../packages/contracts/src/index.js';
import { ensureMnistNpz } from '../../packages/examples/src/index.js';
import {
  ClusteringSession,
  clusterTargets,
  fineTune,
  meanLoss,
  resolveLoss,
  selectBackend,
  selectWeights,
} from '../../packages/engine/src/index.js';
import { readKerasH5, readNpz, toLayersModel } from '../../packages/model-io/src/index.js';
import { disposeDataset, prepareDataset } from '../../packages/pipeline/src/prepare-dataset.js';

// The engine's own copy of TensorFlow.js, so that the backend that `selectBackend`
// activated is the one used here. The root package does not depend on it.
const tf = createRequire(path.resolve(import.meta.dirname, '../../packages/engine/package.json'))('@tensorflow/tfjs') as typeof TF;

const ROOT = path.resolve(import.meta.dirname, '../..');
const MODEL_PATH = path.join(ROOT, 'packages/examples/models/mnist-cnn.h5');
const DATA_DIRECTORY = path.join(ROOT, '.data/datasets');

export const TRAINING_STEP_SETTINGS = {
  numberOfClusters: 14,
  initialisation: 'linear',
  batchSize: 250,
  learningRate: 1e-5,
  /** Steps run before timing starts, on each side. */
  warmupSteps: 3,
  /** Steps timed on each side. */
  timedSteps: 20,
} as const;

export interface TrainingStepMeasurement {
  backend: { name: string; version: string };
  model: string;
  batch_size: number;
  /** Median milliseconds per step, and every timed step, of each side. */
  plain_median_ms: number;
  clustered_median_ms: number;
  plain_steps_ms: number[];
  clustered_steps_ms: number[];
  /** Clustered median over plain median. */
  ratio: number;
  trainable_variables: { plain: number; clustered: number };
}

/** Runs both sides on the backend that `selectBackend` picks and returns their step times. */
export async function measureTrainingSteps(): Promise<TrainingStepMeasurement> {
  const backend = await selectBackend();
  const settings = TRAINING_STEP_SETTINGS;
  const steps = settings.warmupSteps + settings.timedSteps;

  const source = await readKerasH5(MODEL_PATH, path.basename(MODEL_PATH));
  const { model } = await toLayersModel(source);
  const loss = resolveLoss(source.trainingConfig, model.outputs[0]!.shape);
  if (loss === null) throw new Error(`${MODEL_PATH} has no training config, so its loss is unknown`);

  const datasetPath = await ensureMnistNpz(DATA_DIRECTORY);
  const dataset = prepareDataset(
    await readNpz(datasetPath, { filename: path.basename(datasetPath) }),
    JobParamsSchema.parse({ number_of_clusters: settings.numberOfClusters, dataset: { input_scale: 1 / 255 } }).dataset,
    {
      inputShape: model.inputs[0]!.shape,
      outputShape: model.outputs[0]!.shape,
      labelForm: loss.labelForm,
      needsTrain: true,
      maxTrainSamples: settings.batchSize * steps,
    },
    path.basename(datasetPath),
  );

  try {
    const { x, y } = dataset.train!;
    const plainVariables = model.trainableWeights.map((weight) => weight.read() as TF.Variable);
    const plain = timePlainSteps(model, x, y, loss, plainVariables, steps);

    const params = JobParamsSchema.parse({ number_of_clusters: settings.numberOfClusters, cluster_centroids_init: settings.initialisation });
    const session = ClusteringSession.start(model, clusterTargets(selectWeights(model, params)), { method: settings.initialisation, seed: 0 });
    let clustered: number[];
    let clusteredVariables: number;
    try {
      clusteredVariables = session.trainingVariables(true).length;
      clustered = await timeClusteredSteps(session, x, y, loss);
    } finally {
      session.dispose();
    }

    const timedPlain = plain.slice(settings.warmupSteps);
    const timedClustered = clustered.slice(settings.warmupSteps);
    const plainMedian = median(timedPlain);
    const clusteredMedian = median(timedClustered);
    return {
      backend: { name: backend.name, version: backend.version },
      model: path.relative(ROOT, MODEL_PATH),
      batch_size: settings.batchSize,
      plain_median_ms: round(plainMedian),
      clustered_median_ms: round(clusteredMedian),
      plain_steps_ms: timedPlain.map(round),
      clustered_steps_ms: timedClustered.map(round),
      ratio: Math.round((clusteredMedian / plainMedian) * 1000) / 1000,
      trainable_variables: { plain: plainVariables.length, clustered: clusteredVariables },
    };
  } finally {
    disposeDataset(dataset);
    model.dispose();
  }
}

/** Returns the wall time of each of `steps` plain training steps, in milliseconds. */
function timePlainSteps(
  model: TF.LayersModel,
  x: TF.Tensor,
  y: TF.Tensor,
  loss: NonNullable<ReturnType<typeof resolveLoss>>,
  variables: TF.Variable[],
  steps: number,
): number[] {
  const { batchSize, learningRate } = TRAINING_STEP_SETTINGS;
  const optimizer = tf.train.adam(learningRate, 0.9, 0.999, 1e-7);
  const times: number[] = [];
  try {
    for (let step = 0; step < steps; step++) {
      const started = performance.now();
      tf.tidy(() => {
        const indices = tf.range(step * batchSize, (step + 1) * batchSize, 1, 'int32');
        const xBatch = tf.gather(x, indices);
        const yBatch = tf.gather(y, indices);
        const { value, grads } = tf.variableGrads(() => {
          const prediction = model.apply(xBatch, { training: true }) as TF.Tensor;
          return meanLoss(loss, yBatch, prediction) as TF.Scalar;
        }, variables);
        optimizer.applyGradients(grads as Parameters<typeof optimizer.applyGradients>[0]);
        value.dataSync();
      });
      times.push(performance.now() - started);
    }
  } finally {
    optimizer.dispose();
  }
  return times;
}

/** Runs one epoch of `fineTune` over the samples and returns the wall time of each step. */
async function timeClusteredSteps(
  session: ClusteringSession,
  x: TF.Tensor,
  y: TF.Tensor,
  loss: NonNullable<ReturnType<typeof resolveLoss>>,
): Promise<number[]> {
  const { batchSize, learningRate } = TRAINING_STEP_SETTINGS;
  const times: number[] = [];
  let last = performance.now();
  await fineTune(
    session,
    { x, y },
    {
      epochs: 1,
      batchSize,
      learningRate,
      seed: 0,
      loss,
      trainUnclusteredWeights: true,
      onBatch: () => {
        const now = performance.now();
        times.push(now - last);
        last = now;
      },
    },
  );
  return times;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function round(milliseconds: number): number {
  return Math.round(milliseconds * 10) / 10;
}
