// Saves TF.js models to folders as tf.io would write them, and loads written TF.js zips
// back through tf.loadLayersModel, for the TF.js format tests.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';

import { readTestZip } from './archive-helpers.js';

interface ManifestGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

/**
 * Saves `model` into `folder` as `model.json` plus shards of at most `shardBytes` bytes,
 * the layout that tf.io writes, and returns the parsed model.json.
 */
export async function saveTfjsFolder(model: tf.LayersModel, folder: string, shardBytes = 4 * 1024 * 1024): Promise<Record<string, unknown>> {
  let saved: Record<string, unknown> = {};
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const data = new Uint8Array(artifacts.weightData as ArrayBuffer);
      const paths: string[] = [];
      const count = Math.max(1, Math.ceil(data.byteLength / shardBytes));
      await mkdir(folder, { recursive: true });
      for (let index = 0; index < count; index++) {
        const path = `group1-shard${index + 1}of${count}.bin`;
        paths.push(path);
        await writeFile(join(folder, path), data.subarray(index * shardBytes, (index + 1) * shardBytes));
      }
      saved = {
        format: 'layers-model',
        generatedBy: 'test',
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths, weights: artifacts.weightSpecs }],
      };
      await writeFile(join(folder, 'model.json'), JSON.stringify(saved));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return saved;
}

/** Loads a zipped TF.js model with tf.loadLayersModel, joining each group's shards as the browser loader does. */
export async function loadTfjsZip(path: string): Promise<tf.LayersModel> {
  const members = await readTestZip(path);
  const modelJson = JSON.parse(new TextDecoder().decode(members['model.json'])) as {
    modelTopology: object;
    weightsManifest: ManifestGroup[];
    trainingConfig?: tf.io.TrainingConfig;
  };
  const weightSpecs = modelJson.weightsManifest.flatMap((group) => group.weights);
  const shards = modelJson.weightsManifest.flatMap((group) => group.paths.map((shard) => members[shard] as Uint8Array));
  const weightData = Buffer.concat(shards);
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs,
      weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
      ...(modelJson.trainingConfig === undefined ? {} : { trainingConfig: modelJson.trainingConfig }),
    }),
  );
}

/** Returns the prediction of `model` for `x`. */
export async function predictValues(model: tf.LayersModel, x: tf.Tensor): Promise<Float32Array> {
  const output = model.predict(x) as tf.Tensor;
  const values = (await output.data()) as Float32Array;
  output.dispose();
  return values;
}
