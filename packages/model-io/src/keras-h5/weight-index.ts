// Lists the weight datasets of a Keras HDF5 file from the `model_weights` group: its
// `layer_names` attribute orders the layers, and each layer group's `weight_names`
// attribute orders the weights and gives their paths relative to that group.
import { CentroidError } from '@centroid/contracts';

import { readDatasetLayout } from '../hdf5/dataset-bytes.js';
import { readStringListAttribute } from './attributes.js';

import type { Dataset, Group, H5File, Metadata } from '../hdf5/h5wasm.js';
import type { WeightDtype, WeightEntry } from './types.js';

/** A weight dataset found in the file, before its values are read. */
export type WeightDescriptor = Omit<WeightEntry, 'values'>;

/** Group of `model_weights` where Keras saves weights that belong to the model itself, not to a layer. */
export const TOP_LEVEL_WEIGHTS_GROUP = 'top_level_model_weights';

/** HDF5 datatype class numbers, as h5wasm reports them in `Metadata.type`. */
const H5T_INTEGER = 0;
const H5T_FLOAT = 1;
const H5T_STRING = 3;

const FLOAT_DTYPES: Record<number, WeightDtype> = { 2: 'float16', 4: 'float32', 8: 'float64' };

function isGroup(entity: unknown): entity is Group {
  return entity !== null && typeof entity === 'object' && (entity as Group).type === 'Group';
}

function isDataset(entity: unknown): entity is Dataset {
  return entity !== null && typeof entity === 'object' && (entity as Dataset).type === 'Dataset';
}

/** Names an HDF5 element type the way NumPy would, such as `int64` or `float16`. */
export function describeH5Type(metadata: Metadata): string {
  if (metadata.type === H5T_FLOAT) {
    return `float${metadata.size * 8}`;
  }
  if (metadata.type === H5T_INTEGER) {
    return `${metadata.signed ? 'int' : 'uint'}${metadata.size * 8}`;
  }
  if (metadata.type === H5T_STRING) {
    return 'string';
  }
  return `HDF5 type class ${metadata.type}`;
}

/** The layers and weight datasets that `model_weights` lists. */
export interface WeightIndex {
  /** The `layer_names` attribute: every top-level layer, including layers without weights. */
  layerNames: string[];
  weights: WeightDescriptor[];
}

/** Lists every weight dataset with its shape and storage type, without reading values. */
export function readWeightIndex(file: H5File, filename: string): WeightIndex {
  const modelWeights = file.get('/model_weights');
  if (!isGroup(modelWeights)) {
    throw new CentroidError(
      'MODEL_INVALID',
      `${filename} has a model_config but no model_weights group; expected the layout that model.save("model.h5") writes.`,
      { file: filename },
    );
  }

  const layerNames = readStringListAttribute(modelWeights, 'layer_names', filename);
  if (layerNames === null) {
    throw new CentroidError('MODEL_INVALID', `${filename}: the model_weights group has no layer_names attribute.`, {
      file: filename,
    });
  }
  const duplicate = layerNames.find((name, index) => layerNames.indexOf(name) !== index);
  if (duplicate !== undefined) {
    throw new CentroidError('MODEL_INVALID', `${filename}: layer_names lists layer "${duplicate}" more than once.`, {
      file: filename,
      layer: duplicate,
    });
  }

  const weights = layerNames.flatMap((layer) => listLayerWeights(file, modelWeights, layer, filename, true));
  if (!layerNames.includes(TOP_LEVEL_WEIGHTS_GROUP) && modelWeights.keys().includes(TOP_LEVEL_WEIGHTS_GROUP)) {
    weights.push(...listLayerWeights(file, modelWeights, TOP_LEVEL_WEIGHTS_GROUP, filename, false));
  }
  return { layerNames, weights };
}

function listLayerWeights(
  file: H5File,
  modelWeights: Group,
  layer: string,
  filename: string,
  weightNamesRequired: boolean,
): WeightDescriptor[] {
  const layerGroup = modelWeights.get(layer);
  if (!isGroup(layerGroup)) {
    throw new CentroidError(
      'MODEL_INVALID',
      `${filename}: layer_names lists layer "${layer}", but model_weights has no group of that name.`,
      { file: filename, layer },
    );
  }

  const weightNames = readStringListAttribute(layerGroup, 'weight_names', filename);
  if (weightNames === null) {
    if (!weightNamesRequired) {
      return [];
    }
    throw new CentroidError('MODEL_INVALID', `${filename}: the group of layer "${layer}" has no weight_names attribute.`, {
      file: filename,
      layer,
    });
  }

  return weightNames.map((name) => describeWeight(file, layerGroup, layer, name, filename));
}

function describeWeight(file: H5File, layerGroup: Group, layer: string, name: string, filename: string): WeightDescriptor {
  const dataset = layerGroup.get(name);
  if (!isDataset(dataset)) {
    throw new CentroidError(
      'MODEL_INVALID',
      `${filename}: layer "${layer}" lists weight "${name}", but there is no dataset at ${layerGroup.path}/${name}.`,
      { file: filename, layer },
    );
  }

  const layout = readDatasetLayout(file, dataset.path);
  const dtype = layout.metadata.type === H5T_FLOAT ? FLOAT_DTYPES[layout.metadata.size] : undefined;
  if (dtype === undefined) {
    throw new CentroidError(
      'MODEL_LAYER_UNSUPPORTED',
      `${filename}: weight "${name}" of layer "${layer}" is stored as ${describeH5Type(layout.metadata)}; ` +
        'only float16, float32 and float64 weights are supported.',
      { file: filename, layer },
    );
  }
  if (layout.metadata.shape === null) {
    throw new CentroidError('MODEL_INVALID', `${filename}: weight "${name}" of layer "${layer}" has no dataspace.`, {
      file: filename,
      layer,
    });
  }

  return { layer, name, datasetPath: dataset.path, shape: layout.shape, dtype };
}
