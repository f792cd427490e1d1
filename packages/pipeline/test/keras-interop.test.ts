import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { exampleModelPath, loadMnist, pythonScriptPath, venvPythonPath } from '@centroid/examples';
import { readKerasH5, readNpy, toLayersModel } from '@centroid/model-io';
import { runPipeline } from '../src/index.js';
import { pipelineInput, withTempDir, writeNpz } from './helpers.js';

const run = promisify(execFile);
const python = venvPythonPath();
const skip = python === undefined ? 'no .venv at the repository root; run pnpm setup:python' : false;
const pythonEnv = { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' };

const TEST_IMAGES = 100;
const TRAIN_IMAGES = 300;
const CLUSTERS = 14;

interface InspectedH5 {
  datasets: { path: string; distinct_values: number; sha256: string }[];
}

async function inspect(file: string): Promise<Map<string, InspectedH5['datasets'][number]>> {
  const { stdout } = await run(python!, [pythonScriptPath('inspect_h5.py'), file], { env: pythonEnv, maxBuffer: 64 << 20 });
  const inspected = JSON.parse(stdout) as InspectedH5;
  return new Map(inspected.datasets.map((dataset) => [dataset.path, dataset]));
}

describe('the clustered example model in real Keras', { skip }, () => {
  it('loads and predicts like the engine on 100 MNIST test images', async () => {
    await withTempDir(async (dir) => {
      const mnist = await loadMnist();
      const npz = await writeNpz(path.join(dir, 'mnist-small.npz'), {
        x_train: { dtype: '|u1', shape: [TRAIN_IMAGES, 28, 28, 1], data: mnist.xTrain.data.subarray(0, TRAIN_IMAGES * 784) as Uint8Array },
        y_train: { dtype: '|u1', shape: [TRAIN_IMAGES], data: mnist.yTrain.data.subarray(0, TRAIN_IMAGES) as Uint8Array },
        x_test: { dtype: '|u1', shape: [TEST_IMAGES, 28, 28, 1], data: mnist.xTest.data.subarray(0, TEST_IMAGES * 784) as Uint8Array },
        y_test: { dtype: '|u1', shape: [TEST_IMAGES], data: mnist.yTest.data.subarray(0, TEST_IMAGES) as Uint8Array },
      });
      const outDir = path.join(dir, 'out');
      const result = await runPipeline(
        pipelineInput(exampleModelPath(), npz, outDir, {
          number_of_clusters: CLUSTERS,
          cluster_centroids_init: 'linear',
          fine_tune: { epochs: 1, batch_size: 100, learning_rate: 1e-5 },
          dataset: { input_scale: 1 / 255 },
        }),
      );
      const clusteredPath = path.join(outDir, 'model.h5');

      // The engine's predictions of the file it wrote.
      const written = await readKerasH5(clusteredPath);
      const { model } = await toLayersModel(written);
      const x = tf.tidy(() =>
        tf.tensor4d(Float32Array.from(mnist.xTest.data.subarray(0, TEST_IMAGES * 784), (v) => v * (1 / 255)), [TEST_IMAGES, 28, 28, 1]),
      );
      const enginePredictions = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
      x.dispose();
      model.dispose();

      // Keras' predictions of the same file.
      const predictionsPath = path.join(dir, 'keras-predictions.npy');
      await run(python!, [pythonScriptPath('predict.py'), clusteredPath, npz, 'x_test', '1/255', String(TEST_IMAGES), predictionsPath], {
        env: pythonEnv,
      });
      const kerasPredictions = (await readNpy(predictionsPath)).data as Float32Array;

      assert.equal(kerasPredictions.length, enginePredictions.length);
      let maxDifference = 0;
      for (let i = 0; i < kerasPredictions.length; i++) {
        maxDifference = Math.max(maxDifference, Math.abs(kerasPredictions[i]! - enginePredictions[i]!));
      }
      assert.ok(maxDifference <= 1e-4, `largest difference ${maxDifference}`);

      // h5py reads at most N values in each clustered tensor and the same bytes in every other one.
      const before = await inspect(exampleModelPath());
      const after = await inspect(clusteredPath);
      for (const layer of result.metrics.layers) {
        const datasetPath = [...after.keys()].find((key) => key.endsWith(`/${layer.weight}:0`) && key.includes(`/${layer.layer}/`));
        assert.ok(datasetPath, `no dataset for ${layer.layer}/${layer.weight}`);
        const dataset = after.get(datasetPath)!;
        if (layer.clustered) {
          assert.ok(dataset.distinct_values <= CLUSTERS, `${datasetPath} has ${dataset.distinct_values} values`);
        } else {
          assert.equal(dataset.sha256, before.get(datasetPath)?.sha256, `${datasetPath} changed`);
        }
      }
      assert.equal(result.metrics.layers.filter((layer) => layer.clustered).length, 4);
    });
  });
});

