// Writes a Keras HDF5 model file from scratch, for a model that was uploaded in another
// format. The layout is the one `model.save("model.h5")` writes: root attributes with the
// configs, and under `model_weights` one group per top-level layer whose `weight_names`
// list its weights in the order Keras loads them, trainable weights first. Float16
// weights are created as float32 datasets and narrowed to float16 after h5wasm closes
// the file, because h5wasm 0.10 cannot create float16 datasets.
import * as tf from '@tensorflow/tfjs';

import { CentroidError, isCentroidError } from '@centroid/contracts';

import { closeQuietly, createMemfsPath, describeH5Error, loadH5wasm, openH5File, readMemfsFile, removeMemfsFile } from '../hdf5/h5wasm.js';
import { createFloat16Placeholder, narrowDatasetsToFloat16 } from './float16-datasets.js';
import { defaultTimeoutMs, runIsolatedH5Task } from './isolated.js';
import { toLayersModel } from './to-layers-model.js';
import { encodeReplacements, writeAtomically } from './write.js';

import type { H5File } from '../hdf5/h5wasm.js';
import type { ModelFile } from '../model-types.js';
import type { Float16Dataset } from './float16-datasets.js';
import type { WeightDtype, WeightEntry } from './types.js';
import type { WriteKerasH5Result } from './write.js';

/** One weight dataset to create: its name under the layer group, shape, storage type and values. */
interface PlannedWeight {
  name: string;
  shape: number[];
  dtype: WeightDtype;
  /** Float64Array for a float64 weight, Float32Array otherwise. */
  values: Float32Array | Float64Array;
}

/** The whole file to create, planned in the parent and written in the child. */
export interface PlannedKerasH5 {
  attributes: { keras_version: string; backend: string; model_config: string; training_config: string | null };
  layers: { name: string; weights: PlannedWeight[] }[];
}

/**
 * Writes `source`, a `.keras` archive or a TF.js model, as a Keras HDF5 file at `outPath`
 * with the weights in `replacements` replaced. The weights of each top-level layer follow
 * TF.js's order, which is Keras's for the layers TF.js builds. Each weight keeps its
 * storage type, float16 included, and replaced values are rounded to it.
 */
export async function createKerasH5(source: ModelFile, outPath: string, replacements: Map<string, Float32Array>): Promise<WriteKerasH5Result> {
  encodeReplacements(source, replacements);
  const plan = await planKerasH5(source, replacements);
  const timeoutMs = await defaultTimeoutMs(source.path).catch(() => 60_000);
  await runIsolatedH5Task<null>('createKerasH5', [outPath, plan], timeoutMs, {
    filename: source.filename,
    activity: 'writing the clustered model as HDF5',
    failureCode: 'INTERNAL',
  });
  return { warnings: [] };
}

async function planKerasH5(source: ModelFile, replacements: Map<string, Float32Array>): Promise<PlannedKerasH5> {
  const { model, bindings } = await toLayersModel(source);
  try {
    const entryByVariable = new Map(
      bindings.map((binding) => [(binding.layer.weights[binding.weightIndex] as tf.LayerVariable).id, binding.entry]),
    );
    const layers = model.layers.map((layer) => ({
      name: layer.name,
      weights: [...layer.trainableWeights, ...layer.nonTrainableWeights].map((variable) => {
        const entry = entryByVariable.get(variable.id) as WeightEntry;
        const values = replacements.get(entry.datasetPath) ?? entry.values;
        return {
          name: variable.originalName,
          shape: entry.shape,
          dtype: entry.dtype,
          values: entry.dtype === 'float64' ? Float64Array.from(values) : values,
        };
      }),
    }));

    const { class_name: className, config } = source.modelConfig;
    return {
      attributes: {
        keras_version: source.kerasVersion ?? `tfjs-layers ${tf.version.tfjs}`,
        backend: source.backend ?? 'tensorflow',
        model_config: JSON.stringify({ class_name: className, config }),
        training_config: source.trainingConfig === null ? null : JSON.stringify(source.trainingConfig),
      },
      layers,
    };
  } finally {
    model.dispose();
  }
}

/** Creates the planned file in this process; `createKerasH5` runs this in a child process. */
export async function createKerasH5InProcess(outPath: string, plan: PlannedKerasH5): Promise<null> {
  await loadH5wasm();
  const memfsPath = createMemfsPath();
  let file: H5File | null = null;
  try {
    file = openH5File(memfsPath, 'w');
    const float16Datasets = writePlan(file, plan);
    file.close();
    file = null;
    const bytes = readMemfsFile(memfsPath);
    narrowDatasetsToFloat16(bytes, float16Datasets);
    await writeAtomically(outPath, bytes);
    return null;
  } catch (error) {
    if (isCentroidError(error)) {
      throw error;
    }
    throw new CentroidError('INTERNAL', `creating the HDF5 model file failed: ${describeH5Error(error)}`, {}, { cause: error });
  } finally {
    closeQuietly(file);
    removeMemfsFile(memfsPath);
  }
}

/** Writes a list of strings as Keras does, or an empty float64 array for an empty list as h5py stores it. */
function createStringList(group: { create_attribute: H5File['create_attribute'] }, name: string, values: string[]): void {
  if (values.length === 0) {
    group.create_attribute(name, new Float64Array(0), [0]);
  } else {
    group.create_attribute(name, values);
  }
}

/** Writes the planned file and returns its float16 weights, which are still float32 datasets. */
function writePlan(file: H5File, plan: PlannedKerasH5): Float16Dataset[] {
  const { attributes } = plan;
  file.create_attribute('keras_version', attributes.keras_version);
  file.create_attribute('backend', attributes.backend);
  file.create_attribute('model_config', attributes.model_config);
  if (attributes.training_config !== null) {
    file.create_attribute('training_config', attributes.training_config);
  }

  const modelWeights = file.create_group('model_weights');
  createStringList(modelWeights, 'layer_names', plan.layers.map((layer) => layer.name));
  modelWeights.create_attribute('backend', attributes.backend);
  modelWeights.create_attribute('keras_version', attributes.keras_version);

  const float16Datasets: Float16Dataset[] = [];
  for (const layer of plan.layers) {
    const group = modelWeights.create_group(layer.name);
    createStringList(group, 'weight_names', layer.weights.map((weight) => weight.name));
    for (const weight of layer.weights) {
      const parts = weight.name.split('/');
      let parent = group;
      for (const part of parts.slice(0, -1)) {
        parent = parent.keys().includes(part) ? (parent.get(part) as typeof group) : parent.create_group(part);
      }
      const name = parts.at(-1) as string;
      if (weight.dtype === 'float16') {
        float16Datasets.push(createFloat16Placeholder(parent, name, weight.shape, weight.values as Float32Array));
      } else {
        parent.create_dataset({ name, data: weight.values, shape: weight.shape });
      }
    }
  }
  return float16Datasets;
}
