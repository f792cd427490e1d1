// Finds the weight datasets of a Keras 3 `model.weights.h5` and orders them as TF.js
// orders each layer's weights. Keras 3 saves each layer's variables under
// `layers/<key>/vars/<i>`. `<key>` is the snake-case class name, made unique by a counter
// (`dense`, `dense_1`) in the order of `model.layers`. A layer's inner objects sit under
// the name of the attribute that refers to them: `cell` for recurrent layers,
// `forward_layer` and `backward_layer` for Bidirectional, `layer` for TimeDistributed,
// `layers/...` for a nested model. Source: keras/src/saving/saving_lib.py in Keras 3.15.
import { CentroidError } from '@centroid/contracts';

import { readDatasetLayout } from '../hdf5/dataset-bytes.js';
import { describeH5Type } from '../keras-h5/weight-index.js';

import type { Group, H5File } from '../hdf5/h5wasm.js';
import type { KerasModelConfig, WeightDtype } from '../keras-h5/types.js';
import type { WeightDescriptor } from '../keras-h5/weight-index.js';

/** A layer entry of a Keras config. */
interface LayerConfig {
  class_name: string;
  config: Record<string, unknown>;
}

const MODEL_CLASSES = new Set(['Sequential', 'Functional', 'Model']);

/**
 * Groups that hold a layer's inner objects, in the order TF.js lists their weights: a
 * recurrent layer's cell, Bidirectional's forward then backward layer, a wrapper's layer.
 */
const INNER_OBJECT_GROUPS = ['cell', 'forward_layer', 'backward_layer', 'layer'];

const H5T_FLOAT = 1;
const FLOAT_DTYPES: Record<number, WeightDtype> = { 2: 'float16', 4: 'float32', 8: 'float64' };

/** Converts a class name to the key Keras uses in the weights file, as keras.src.utils.naming.to_snake_case does. */
export function toSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

function isLayerConfig(value: unknown): value is LayerConfig {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as LayerConfig).class_name === 'string' &&
    typeof (value as LayerConfig).config === 'object' &&
    (value as LayerConfig).config !== null
  );
}

function isGroup(entity: unknown): entity is Group {
  return entity !== null && typeof entity === 'object' && (entity as Group).type === 'Group';
}

function layerName(layer: LayerConfig): string {
  return typeof layer.config.name === 'string' ? layer.config.name : `(unnamed ${layer.class_name})`;
}

/**
 * Returns the layers that Keras 3 lists in `model.layers`, which is the order of the
 * weights file. A Sequential model leaves out the InputLayer that starts its config.
 */
function savedLayers(model: LayerConfig, filename: string): LayerConfig[] {
  const layers = model.config.layers;
  if (!Array.isArray(layers) || !layers.every(isLayerConfig)) {
    throw new CentroidError(
      'MODEL_INVALID',
      `${filename}: the config of model "${layerName(model)}" should have a "layers" list of layer configs.`,
      { file: filename },
    );
  }
  if (model.class_name === 'Sequential' && layers[0]?.class_name === 'InputLayer') {
    return layers.slice(1);
  }
  return layers;
}

function mismatch(filename: string, layer: string, problem: string): CentroidError {
  return new CentroidError('MODEL_WEIGHTS_MISMATCH', `${filename}: ${problem}`, { file: filename, layer });
}

/** Lists every weight dataset of the archive's weights file, grouped by the TF.js layer that owns it. */
export function describeArchiveWeights(file: H5File, modelConfig: KerasModelConfig, filename: string): WeightDescriptor[] {
  const weights: WeightDescriptor[] = [];
  describeModelWeights(file, modelConfig as unknown as LayerConfig, '', [], filename, weights);
  return weights;
}

function describeModelWeights(
  file: H5File,
  model: LayerConfig,
  groupPath: string,
  layerPrefix: string[],
  filename: string,
  weights: WeightDescriptor[],
): void {
  const keyCounts = new Map<string, number>();
  for (const layer of savedLayers(model, filename)) {
    const name = layerName(layer);
    const key = uniqueKey(toSnakeCase(layer.class_name), keyCounts);
    const layerPath = `${groupPath}/layers/${key}`;
    const group = file.get(layerPath);
    if (!isGroup(group)) {
      throw mismatch(filename, name, `the weights file has no group ${layerPath} for layer "${name}" (${layer.class_name}).`);
    }
    checkSavedName(group, layerPath, name, filename);

    if (MODEL_CLASSES.has(layer.class_name)) {
      describeModelWeights(file, layer, layerPath, [...layerPrefix, name], filename, weights);
      continue;
    }
    for (const datasetPath of collectVariables(file, group, layerPath)) {
      weights.push(describeVariable(file, datasetPath, layerPath, name, [...layerPrefix, name], filename));
    }
  }
}

/** Returns `base`, or `base_<n>` for its n-th repeat, as keras.src.saving.saving_lib._get_unique_name does. */
export function uniqueKey(base: string, counts: Map<string, number>): string {
  const seen = counts.get(base);
  if (seen === undefined) {
    counts.set(base, 0);
    return base;
  }
  counts.set(base, seen + 1);
  return `${base}_${seen + 1}`;
}

/** Keras 3.6 and later write the layer's name on its `vars` group; a different name means the layers were matched wrongly. */
function checkSavedName(group: Group, layerPath: string, name: string, filename: string): void {
  const vars = group.get('vars');
  if (!isGroup(vars) || !Object.prototype.hasOwnProperty.call(vars.attrs, 'name')) {
    return;
  }
  const saved = vars.attrs.name?.value;
  if (typeof saved === 'string' && saved !== name) {
    throw mismatch(
      filename,
      name,
      `${layerPath} holds the variables of layer "${saved}", but the config puts layer "${name}" at that position.`,
    );
  }
}

function sortedVariableNames(vars: Group): string[] {
  return vars
    .keys()
    .filter((key) => /^\d+$/.test(key))
    .sort((a, b) => Number(a) - Number(b));
}

/** Returns the dataset paths of a layer's variables: its own, then those of its inner objects. */
function collectVariables(file: H5File, group: Group, path: string): string[] {
  const paths: string[] = [];
  const vars = group.get('vars');
  if (isGroup(vars)) {
    paths.push(...sortedVariableNames(vars).map((key) => `${path}/vars/${key}`));
  }
  for (const key of INNER_OBJECT_GROUPS) {
    const inner = group.get(key);
    if (isGroup(inner)) {
      paths.push(...collectVariables(file, inner, `${path}/${key}`));
    }
  }
  return paths;
}

function describeVariable(
  file: H5File,
  datasetPath: string,
  layerGroupPath: string,
  layer: string,
  layerPath: string[],
  filename: string,
): WeightDescriptor {
  const layout = readDatasetLayout(file, datasetPath);
  const dtype = layout.metadata.type === H5T_FLOAT ? FLOAT_DTYPES[layout.metadata.size] : undefined;
  const name = datasetPath.slice(layerGroupPath.length + 1);
  if (dtype === undefined) {
    throw new CentroidError(
      'MODEL_LAYER_UNSUPPORTED',
      `${filename}: variable ${name} of layer "${layer}" is stored as ${describeH5Type(layout.metadata)}; ` +
        'only float16, float32 and float64 weights are supported.',
      { file: filename, layer },
    );
  }
  return { layer, layerPath, name, datasetPath, shape: layout.shape, dtype };
}
