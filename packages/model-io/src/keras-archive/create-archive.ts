// Writes a Keras 3 `.keras` archive from scratch, for a model uploaded as a Keras HDF5
// file or a TF.js layers model. The archive contains what `model.save("model.keras")` of
// Keras 3.15 writes: `metadata.json`, `config.json` in the Keras 3 serialization, and
// `model.weights.h5` with each layer's variables under `layers/<key>/vars/<i>`, where
// `<key>` is the snake-case class name made unique by a counter in `model.layers` order.
// Float16 variables are created as float32 datasets and narrowed to float16 after h5wasm
// closes the file, because h5wasm 0.10 cannot create float16 datasets.
import * as tf from '@tensorflow/tfjs';

import { CentroidError, isCentroidError } from '@centroid/contracts';

import { writeZip } from '../archive/write-zip.js';
import { closeQuietly, createMemfsPath, describeH5Error, loadH5wasm, openH5File, readMemfsFile, removeMemfsFile } from '../hdf5/h5wasm.js';
import { createFloat16Placeholder, narrowDatasetsToFloat16 } from '../keras-h5/float16-datasets.js';
import { defaultTimeoutMs, runIsolatedH5Task } from '../keras-h5/isolated.js';
import { toLayersModel } from '../keras-h5/to-layers-model.js';
import { encodeReplacements } from '../keras-h5/write.js';
import { isPlainObject } from './archive-json.js';
import { toKeras3CompileConfig, toKeras3ModelConfig } from './keras3-config.js';
import { CONFIG_MEMBER, METADATA_MEMBER, WEIGHTS_MEMBER } from './read.js';
import { toSnakeCase, uniqueKey } from './weight-layout.js';

import type { Group, H5File } from '../hdf5/h5wasm.js';
import type { Float16Dataset } from '../keras-h5/float16-datasets.js';
import type { WeightDtype, WeightEntry } from '../keras-h5/types.js';
import type { WriteKerasH5Result, WriteWarning } from '../keras-h5/write.js';
import type { ModelFile } from '../model-types.js';
import type { TensorShapeLookup } from './keras3-config.js';

/** Keras version written to `metadata.json`: the Keras 3 release whose archive layout this writer follows. */
const WRITTEN_KERAS_VERSION = '3.15.1';

const MODEL_CLASSES = new Set(['Sequential', 'Functional']);
const RECURRENT_CLASSES = new Set(['LSTM', 'GRU', 'SimpleRNN']);

/** One `vars` group of `model.weights.h5`: the owning object's name and its variables in order. */
export interface PlannedVarsGroup {
  path: string;
  name: string;
  /** Each variable's shape, storage type and values: Float64Array for float64, Float32Array otherwise. */
  variables: { shape: number[]; dtype: WeightDtype; values: Float32Array | Float64Array }[];
}

/** The whole archive to write, planned in the parent and written in the child. */
export interface PlannedKerasArchive {
  metadataJson: string;
  configJson: string;
  groups: PlannedVarsGroup[];
}

/** A config entry of a layer or model, as the translation writes it. */
interface Keras3Layer {
  class_name: string;
  config: Record<string, unknown>;
}

/**
 * Writes `source`, a Keras HDF5 file or a TF.js model, as a Keras 3 archive at `outPath`
 * with the weights in `replacements` replaced. Each variable keeps its storage type,
 * float16 included. Raises MODEL_LAYER_UNSUPPORTED when a layer has no Keras 3 translation.
 */
export async function createKerasArchive(source: ModelFile, outPath: string, replacements: Map<string, Float32Array>): Promise<WriteKerasH5Result> {
  encodeReplacements(source, replacements);
  const warnings: WriteWarning[] = [];
  const plan = await planKerasArchive(source, replacements, warnings);
  const timeoutMs = await defaultTimeoutMs(source.path).catch(() => 60_000);
  await runIsolatedH5Task<null>('createKerasArchive', [outPath, plan], timeoutMs, {
    filename: source.filename,
    activity: 'writing the clustered model as a .keras archive',
    failureCode: 'INTERNAL',
  });
  return { warnings };
}

async function planKerasArchive(source: ModelFile, replacements: Map<string, Float32Array>, warnings: WriteWarning[]): Promise<PlannedKerasArchive> {
  const { model, bindings } = await toLayersModel(source);
  try {
    const config = toKeras3ModelConfig(source.modelConfig, source.filename, tensorShapeLookup(model));
    if (source.trainingConfig !== null) {
      const { compileConfig, problem } = toKeras3CompileConfig(source.trainingConfig);
      config.compile_config = compileConfig;
      if (problem !== null) {
        warnings.push({
          code: 'OPTIMIZER_NOT_TRANSLATED',
          message: `${source.filename}: the ${problem}, so compile_config in the .keras archive has no optimizer. Compile the model again before training it.`,
        });
      }
    }

    const entryByVariable = new Map(
      bindings.map((binding) => [(binding.layer.weights[binding.weightIndex] as tf.LayerVariable).id, binding.entry]),
    );
    const valuesOf = (variable: tf.LayerVariable): PlannedVarsGroup['variables'][number] => {
      const entry = entryByVariable.get(variable.id) as WeightEntry;
      const values = replacements.get(entry.datasetPath) ?? entry.values;
      return { shape: entry.shape, dtype: entry.dtype, values: entry.dtype === 'float64' ? Float64Array.from(values) : values };
    };

    const groups: PlannedVarsGroup[] = [];
    const root = config as unknown as Keras3Layer;
    groups.push({ path: 'vars', name: nameOf(root), variables: [] });
    planModelGroups(root, model, '', valuesOf, groups, source.filename);

    const metadata = { keras_version: WRITTEN_KERAS_VERSION, date_saved: formatDateSaved(new Date()) };
    return { metadataJson: JSON.stringify(metadata), configJson: JSON.stringify(config), groups };
  } finally {
    model.dispose();
  }
}

/** Formats a date as Keras 3 writes `date_saved`, such as `2026-12-04@22:47:07` (UTC here). */
function formatDateSaved(date: Date): string {
  return date.toISOString().slice(0, 19).replace('T', '@');
}

function nameOf(layer: Keras3Layer): string {
  return typeof layer.config.name === 'string' ? layer.config.name : layer.class_name;
}

/**
 * Returns the output shapes of the TF.js model's layers by node, for the
 * `__keras_tensor__` records of translated inbound nodes. TF.js numbers nodes as Keras 2
 * does, so the node indices of the Keras 2 config find the same nodes.
 */
function tensorShapeLookup(model: tf.LayersModel): TensorShapeLookup {
  return (modelPath, layerName, nodeIndex, tensorIndex) => {
    let container: tf.LayersModel = model;
    for (const name of modelPath) {
      const inner = container.layers.find((layer) => layer.name === name);
      if (!(inner instanceof tf.LayersModel)) {
        return null;
      }
      container = inner;
    }
    const layer = container.layers.find((candidate) => candidate.name === layerName);
    const tensor = layer?.inboundNodes[nodeIndex]?.outputTensors[tensorIndex];
    return tensor === undefined ? null : [...tensor.shape];
  };
}

/**
 * Returns the layers Keras 3 lists in `model.layers`, the order of the weights file:
 * a Sequential model leaves out its InputLayer.
 * NOTE: for a functional model this is the config's order. Keras 3.15 orders
 * `model.layers` by graph depth, then traversal order (keras/src/ops/function.py
 * `map_graph`), as tf_keras 2.18 does, so the two agree for a Keras 2 config too. The
 * formats fixtures confirm it, but a graph where the two differ would load wrong weights.
 */
function savedLayers(model: Keras3Layer): Keras3Layer[] {
  const layers = (Array.isArray(model.config.layers) ? model.config.layers : []) as Keras3Layer[];
  return model.class_name === 'Sequential' && layers[0]?.class_name === 'InputLayer' ? layers.slice(1) : layers;
}

function planModelGroups(
  model: Keras3Layer,
  tfModel: tf.LayersModel,
  groupPath: string,
  valuesOf: (variable: tf.LayerVariable) => PlannedVarsGroup['variables'][number],
  groups: PlannedVarsGroup[],
  filename: string,
): void {
  const keyCounts = new Map<string, number>();
  for (const layer of savedLayers(model)) {
    const key = uniqueKey(toSnakeCase(layer.class_name), keyCounts);
    const layerPath = `${groupPath}layers/${key}`;
    const tfLayer = tfModel.layers.find((candidate) => candidate.name === nameOf(layer));
    if (tfLayer === undefined) {
      // An InputLayer that TF.js folds into a Sequential model has no variables.
      if (layer.class_name !== 'InputLayer') {
        throw new CentroidError('INTERNAL', `${filename}: layer "${nameOf(layer)}" of the Keras 3 config has no TF.js counterpart.`, {
          file: filename,
          layer: nameOf(layer),
        });
      }
      groups.push({ path: `${layerPath}/vars`, name: nameOf(layer), variables: [] });
      continue;
    }
    if (MODEL_CLASSES.has(layer.class_name) && tfLayer instanceof tf.LayersModel) {
      groups.push({ path: `${layerPath}/vars`, name: nameOf(layer), variables: [] });
      planModelGroups(layer, tfLayer, `${layerPath}/`, valuesOf, groups, filename);
      continue;
    }
    const variables = tfLayer.weights.map((variable) => valuesOf(variable as tf.LayerVariable));
    planLayerGroups(layer, layerPath, variables, groups);
  }
}

/**
 * Places a layer's variables, in TF.js order, where Keras 3 saves them: a recurrent
 * layer's in its `cell`, Bidirectional's first half in `forward_layer` and second half in
 * `backward_layer`, TimeDistributed's in `layer`, and any other layer's in its own `vars`.
 */
function planLayerGroups(layer: Keras3Layer, layerPath: string, variables: PlannedVarsGroup['variables'], groups: PlannedVarsGroup[]): void {
  const ownVars = (owned: PlannedVarsGroup['variables']): void => {
    groups.push({ path: `${layerPath}/vars`, name: nameOf(layer), variables: owned });
  };

  if (RECURRENT_CLASSES.has(layer.class_name)) {
    ownVars([]);
    groups.push({ path: `${layerPath}/cell/vars`, name: `${toSnakeCase(layer.class_name)}_cell`, variables });
    return;
  }
  if (layer.class_name === 'Bidirectional' && isPlainObject(layer.config.layer)) {
    ownVars([]);
    const forward = layer.config.layer as unknown as Keras3Layer;
    const backward = (isPlainObject(layer.config.backward_layer) ? layer.config.backward_layer : forward) as unknown as Keras3Layer;
    const half = variables.length / 2;
    planLayerGroups(withName(forward, `forward_${nameOf(forward)}`), `${layerPath}/forward_layer`, variables.slice(0, half), groups);
    planLayerGroups(withName(backward, `backward_${nameOf(forward)}`), `${layerPath}/backward_layer`, variables.slice(half), groups);
    return;
  }
  if (layer.class_name === 'TimeDistributed' && isPlainObject(layer.config.layer)) {
    ownVars([]);
    planLayerGroups(layer.config.layer as unknown as Keras3Layer, `${layerPath}/layer`, variables, groups);
    return;
  }
  ownVars(variables);
}

/** Returns `layer` under the name Keras 3 gives a Bidirectional sublayer, unless its config names it already. */
function withName(layer: Keras3Layer, fallback: string): Keras3Layer {
  const name = nameOf(layer);
  return name.startsWith('forward_') || name.startsWith('backward_') ? layer : { ...layer, config: { ...layer.config, name: fallback } };
}

/** Creates the planned archive in this process; `createKerasArchive` runs this in a child process. */
export async function createKerasArchiveInProcess(outPath: string, plan: PlannedKerasArchive): Promise<null> {
  await loadH5wasm();
  const memfsPath = createMemfsPath();
  let file: H5File | null = null;
  try {
    file = openH5File(memfsPath, 'w');
    const float16Datasets: Float16Dataset[] = [];
    for (const planned of plan.groups) {
      float16Datasets.push(...writeVarsGroup(file, planned));
    }
    file.close();
    file = null;
    const weights = readMemfsFile(memfsPath);
    narrowDatasetsToFloat16(weights, float16Datasets);
    const encoder = new TextEncoder();
    await writeZip(outPath, [
      { name: METADATA_MEMBER, bytes: encoder.encode(plan.metadataJson), deflate: true },
      { name: CONFIG_MEMBER, bytes: encoder.encode(plan.configJson), deflate: true },
      { name: WEIGHTS_MEMBER, bytes: weights, deflate: false },
    ]);
    return null;
  } catch (error) {
    if (isCentroidError(error)) {
      throw error;
    }
    throw new CentroidError('INTERNAL', `creating the .keras archive failed: ${describeH5Error(error)}`, {}, { cause: error });
  } finally {
    closeQuietly(file);
    removeMemfsFile(memfsPath);
  }
}

/** Writes one `vars` group and returns its float16 variables, which are still float32 datasets. */
function writeVarsGroup(file: H5File, planned: PlannedVarsGroup): Float16Dataset[] {
  let parent: Group = file;
  for (const part of planned.path.split('/')) {
    parent = parent.keys().includes(part) ? (parent.get(part) as Group) : parent.create_group(part);
  }
  parent.create_attribute('name', planned.name);

  const float16Datasets: Float16Dataset[] = [];
  planned.variables.forEach((variable, index) => {
    if (variable.dtype === 'float16') {
      float16Datasets.push(createFloat16Placeholder(parent, String(index), variable.shape, variable.values as Float32Array));
    } else {
      parent.create_dataset({ name: String(index), data: variable.values, shape: variable.shape });
    }
  });
  return float16Datasets;
}
