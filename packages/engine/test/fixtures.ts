// Tiny seeded models and datasets for the engine tests. The pure-JavaScript backend is
// slow, so every model here has at most a few hundred weights.
import type { TestContext } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { LossSpec } from '../src/losses.js';
import { createRandom } from '../src/random.js';

export const CATEGORICAL: LossSpec = {
  name: 'categorical_crossentropy',
  fromLogits: false,
  labelSmoothing: 0,
  labelForm: 'one_hot',
  accuracy: { metric: 'categorical_accuracy', threshold: 0.5 },
};

/** Returns a Dense 4 → 8 (relu) → 3 (softmax) classifier with seeded initial weights. */
export function denseClassifier(seed = 1): tf.Sequential {
  const model = tf.sequential();
  model.add(tf.layers.dense({ units: 8, inputShape: [4], activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }) }));
  model.add(
    tf.layers.dense({
      units: 3,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
      biasInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: seed + 2 }),
    }),
  );
  return model;
}

/** Returns a Conv2D (4 filters, 3×3) → Flatten → Dense 2 (softmax) classifier on 6×6×1 inputs. */
export function convClassifier(seed = 1): tf.Sequential {
  const model = tf.sequential();
  model.add(
    tf.layers.conv2d({
      inputShape: [6, 6, 1],
      filters: 4,
      kernelSize: 3,
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
      biasInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: seed + 1 }),
    }),
  );
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }) }));
  return model;
}

/**
 * Returns `count` samples of a separable problem with one-hot labels: the class is the
 * argmax of a fixed linear map of the input.
 */
export function classificationData(count: number, inputShape: number[], classes: number, seed: number): { x: tf.Tensor; y: tf.Tensor } {
  const random = createRandom(seed);
  const features = inputShape.reduce((product, size) => product * size, 1);
  const weights = Array.from({ length: classes * features }, () => random.nextFloat() * 2 - 1);
  const x = new Float32Array(count * features);
  const y = new Float32Array(count * classes);

  for (let sample = 0; sample < count; sample++) {
    const scores = new Array<number>(classes).fill(0);
    for (let feature = 0; feature < features; feature++) {
      const value = random.nextFloat() * 2 - 1;
      x[sample * features + feature] = value;
      for (let label = 0; label < classes; label++) scores[label] = (scores[label] as number) + value * (weights[label * features + feature] as number);
    }
    y[sample * classes + scores.indexOf(Math.max(...scores))] = 1;
  }
  return { x: tf.tensor(x, [count, ...inputShape]), y: tf.tensor2d(y, [count, classes]) };
}

/** Returns copies of every weight value of `model`, in `model.weights` order. */
export function weightValues(model: tf.LayersModel): Float32Array[] {
  return model.weights.map((variable) => Float32Array.from(variable.read().dataSync() as Float32Array));
}

/**
 * Activates the backend the tests run on: `cpu`, or the native `tensorflow` backend when
 * CENTROID_BACKEND names it (pnpm test:native).
 */
export async function useTestBackend(): Promise<void> {
  const native = process.env.CENTROID_BACKEND === 'tensorflow' || process.env.CENTROID_BACKEND === 'tensorflow-gpu';
  const name = native ? 'tensorflow' : 'cpu';
  if (!(await tf.setBackend(name))) throw new Error(`the ${name} backend failed to initialise`);
}

/** Sets the environment variable `name` to `value` until test `t` ends, then restores it. */
export function setEnvironmentForTest(t: TestContext, name: string, value: string): void {
  const saved = process.env[name];
  t.after(() => {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  });
  process.env[name] = value;
}
