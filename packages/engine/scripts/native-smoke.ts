// Trains one step of a small model on the backend that selectBackend picks and prints
// the backend and versions. setup-native.sh runs it with CENTROID_BACKEND=tensorflow.
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend.js';

const backend = await selectBackend();
// NodeJSKernelBackend exposes its addon as `binding`, whose TF_Version is the version
// of the libtensorflow that the addon loaded.
const binding = (tf.backend() as { binding?: { TF_Version?: string } }).binding;
const libtensorflowVersion = binding?.TF_Version ?? 'none';

const model = tf.sequential();
model.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu' }));
model.add(tf.layers.flatten());
model.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
model.compile({ optimizer: tf.train.adam(1e-2), loss: 'categoricalCrossentropy' });

const x = tf.randomUniform([16, 8, 8, 1], 0, 1, 'float32', 1);
const y = tf.oneHot(tf.randomUniform([16], 0, 3, 'int32', 2), 3);
const kernelBefore = model.layers[0].getWeights()[0].dataSync().slice();
const loss = Number(await model.trainOnBatch(x, y));
const kernelAfter = model.layers[0].getWeights()[0].dataSync();
const kernelChanged = kernelAfter.some((value, index) => value !== kernelBefore[index]);

console.log(
  `backend ${backend.name} (package ${backend.version}), @tensorflow/tfjs ${tf.version.tfjs}, ` +
    `libtensorflow ${libtensorflowVersion}, loss after one step ${loss.toFixed(6)}`,
);
if (!Number.isFinite(loss) || !kernelChanged) {
  console.error(`one training step failed: loss ${loss}, convolution kernel changed: ${kernelChanged}`);
  process.exit(1);
}
