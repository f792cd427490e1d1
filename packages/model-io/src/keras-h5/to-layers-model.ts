// Builds a TF.js LayersModel from a Keras HDF5 model file and loads its weights. It keeps
// a binding from every file weight to the TF.js variable that stores it, so that the
// clustered values can be written back to the right datasets.
import * as tf from '@tensorflow/tfjs';

import { CentroidError } from '@centroid/contracts';

import { translateModelConfig, unsupportedLayersError } from './tfjs-config.js';

import type { KerasModelFile, WeightEntry } from './types.js';

/** Links a weight of the file to the TF.js layer weight that stores it. */
export interface WeightBinding {
  entry: WeightEntry;
  layer: tf.layers.Layer;
  /** Index of the weight in `layer.weights`. */
  weightIndex: number;
}

function formatShape(shape: readonly (number | null)[]): string {
  return `[${shape.join(', ')}]`;
}

function groupByLayer(weights: WeightEntry[]): Map<string, WeightEntry[]> {
  const byLayer = new Map<string, WeightEntry[]>();
  for (const weight of weights) {
    const entries = byLayer.get(weight.layer) ?? [];
    entries.push(weight);
    byLayer.set(weight.layer, entries);
  }
  return byLayer;
}

async function buildModel(file: KerasModelFile): Promise<tf.LayersModel> {
  const { topology, unsupported } = translateModelConfig(file.modelConfig);
  if (unsupported.length > 0) {
    throw unsupportedLayersError(file.filename, unsupported);
  }

  try {
    return await tf.models.modelFromJSON({ modelTopology: topology as unknown as tf.io.ModelJSON['modelTopology'] });
  } catch (error) {
    // TF.js 4.22 follows "Unknown <kind>: <name>." with a generic list of causes; only the first sentence is kept.
    const firstLine = error instanceof Error ? (error.message.split('\n')[0] as string) : String(error);
    const reason = firstLine.replace(/ This may be due to one of the following reasons:$/, '');
    throw new CentroidError(
      'MODEL_LAYER_UNSUPPORTED',
      `${file.filename}: TF.js could not build the model from its model_config: ${reason}`,
      { file: file.filename },
      { cause: error },
    );
  }
}

/**
 * Matches the file's weights to the model's layers by layer name, and within a layer by
 * position. Raises MODEL_WEIGHTS_MISMATCH when a layer is missing on either side or a
 * count or shape disagrees.
 */
function bindWeights(file: KerasModelFile, model: tf.LayersModel): WeightBinding[] {
  const byLayer = groupByLayer(file.weights);
  const bindings: WeightBinding[] = [];

  for (const [layerName, entries] of byLayer) {
    let layer: tf.layers.Layer;
    try {
      layer = model.getLayer(layerName);
    } catch {
      throw new CentroidError(
        'MODEL_WEIGHTS_MISMATCH',
        `${file.filename}: the file has weights for layer "${layerName}", but the model config has no layer of that name.`,
        { file: file.filename, layer: layerName },
      );
    }

    if (layer.weights.length !== entries.length) {
      throw new CentroidError(
        'MODEL_WEIGHTS_MISMATCH',
        `${file.filename}: layer "${layerName}" expects ${layer.weights.length} weights ` +
          `(${layer.weights.map((weight) => weight.originalName).join(', ') || 'none'}), but the file has ${entries.length} ` +
          `(${entries.map((entry) => entry.name).join(', ')}).`,
        { file: file.filename, layer: layerName },
      );
    }

    entries.forEach((entry, weightIndex) => {
      const expected = (layer.weights[weightIndex] as tf.LayerVariable).shape;
      if (expected.length !== entry.shape.length || expected.some((size, axis) => size !== entry.shape[axis])) {
        throw new CentroidError(
          'MODEL_WEIGHTS_MISMATCH',
          `${file.filename}: weight "${entry.name}" of layer "${layerName}" should have shape ${formatShape(expected)} ` +
            `according to the model config, but the file has shape ${formatShape(entry.shape)}.`,
          { file: file.filename, layer: layerName },
        );
      }
      bindings.push({ entry, layer, weightIndex });
    });
  }

  const unfilled = model.layers.find((layer) => layer.weights.length > 0 && !byLayer.has(layer.name));
  if (unfilled !== undefined) {
    throw new CentroidError(
      'MODEL_WEIGHTS_MISMATCH',
      `${file.filename}: layer "${unfilled.name}" has ${unfilled.weights.length} weights in the model config, ` +
        'but the file has none for it.',
      { file: file.filename, layer: unfilled.name },
    );
  }
  return bindings;
}

function assignWeights(bindings: WeightBinding[]): void {
  const byLayer = new Map<tf.layers.Layer, WeightBinding[]>();
  for (const binding of bindings) {
    byLayer.set(binding.layer, [...(byLayer.get(binding.layer) ?? []), binding]);
  }

  for (const [layer, layerBindings] of byLayer) {
    const tensors = layerBindings.map(({ entry }) => tf.tensor(entry.values, entry.shape, 'float32'));
    try {
      layer.setWeights(tensors);
    } finally {
      tf.dispose(tensors);
    }
  }
}

/**
 * Builds a TF.js model from the file's Keras 2 or Keras 3 model config and sets every weight from
 * the file. Raises MODEL_LAYER_UNSUPPORTED listing every layer that TF.js cannot build
 * faithfully, and MODEL_WEIGHTS_MISMATCH when the file's weights do not fit the config.
 * Uses whichever TF.js backend is active.
 */
export async function toLayersModel(file: KerasModelFile): Promise<{ model: tf.LayersModel; bindings: WeightBinding[] }> {
  const model = await buildModel(file);
  try {
    const bindings = bindWeights(file, model);
    assignWeights(bindings);
    return { model, bindings };
  } catch (error) {
    model.dispose();
    throw error;
  }
}
