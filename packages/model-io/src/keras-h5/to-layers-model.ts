// Builds a TF.js LayersModel from a Keras HDF5 model file and loads its weights. It keeps
// a binding from every file weight to the TF.js variable that stores it, so that the
// clustered values can be written back to the right datasets.
import * as tf from '@tensorflow/tfjs';

import { CentroidError } from '@centroid/contracts';

import { checkLayerGraph } from './check-layer-graph.js';
import { registerResetAfterGRU } from './gru-reset-after.js';
import { translateModelConfig, unsupportedLayersError } from './tfjs-config.js';

import type { ModelFile } from '../model-types.js';
import type { WeightEntry } from './types.js';

// Keras' default GRU (reset_after=True) is built by Centroid's GRU class, registered as "GRU".
registerResetAfterGRU();

/** Longest TF.js error text kept in a message, in characters. */
const MAX_REASON_LENGTH = 500;

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

/** Returns the names from the outer model down to the layer that owns a weight. */
function layerPathOf(weight: WeightEntry): string[] {
  return weight.layerPath ?? [weight.layer];
}

/** Groups weights by owning layer, keyed by the layer path joined with `/`, in first-seen order. */
function groupByLayer(weights: WeightEntry[]): Map<string, WeightEntry[]> {
  const byLayer = new Map<string, WeightEntry[]>();
  for (const weight of weights) {
    const key = layerPathOf(weight).join('/');
    const entries = byLayer.get(key) ?? [];
    entries.push(weight);
    byLayer.set(key, entries);
  }
  return byLayer;
}

/** Finds a layer by its path of names through nested models, or returns null. */
function findLayer(model: tf.LayersModel, path: string[]): tf.layers.Layer | null {
  let current: tf.layers.Layer = model;
  for (const name of path) {
    if (!(current instanceof tf.LayersModel)) {
      return null;
    }
    const next: tf.layers.Layer | undefined = current.layers.find((layer) => layer.name === name);
    if (next === undefined) {
      return null;
    }
    current = next;
  }
  return current;
}

async function buildModel(file: ModelFile): Promise<tf.LayersModel> {
  const { topology, unsupported } = translateModelConfig(file.modelConfig);
  if (unsupported.length > 0) {
    throw unsupportedLayersError(file.filename, unsupported);
  }
  checkLayerGraph(topology, file.filename);

  try {
    return await tf.models.modelFromJSON({ modelTopology: topology as unknown as tf.io.ModelJSON['modelTopology'] });
  } catch (error) {
    // TF.js 4.22 follows "Unknown <kind>: <name>." with a generic list of causes; only the first sentence is kept.
    const firstLine = error instanceof Error ? (error.message.split('\n')[0] as string) : String(error);
    const fullReason = firstLine.replace(/ This may be due to one of the following reasons:$/, '');
    // TF.js quotes the offending config, which a crafted file can make megabytes long.
    const reason = fullReason.length > MAX_REASON_LENGTH ? `${fullReason.slice(0, MAX_REASON_LENGTH)}…` : fullReason;
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
function bindWeights(file: ModelFile, model: tf.LayersModel): WeightBinding[] {
  const byLayer = groupByLayer(file.weights);
  const bindings: WeightBinding[] = [];

  for (const [layerName, entries] of byLayer) {
    const layer = findLayer(model, layerPathOf(entries[0] as WeightEntry));
    if (layer === null) {
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

  const bound = new Set(bindings.map((binding) => binding.layer));
  const unfilled = findUnboundLayer(model, bound);
  if (unfilled !== null) {
    throw new CentroidError(
      'MODEL_WEIGHTS_MISMATCH',
      `${file.filename}: layer "${unfilled.name}" has ${unfilled.weights.length} weights in the model config, ` +
        'but the file has none for it.',
      { file: file.filename, layer: unfilled.name },
    );
  }
  return bindings;
}

/**
 * Returns a layer with weights that no binding covers, looking inside nested models
 * whose weights were bound layer by layer, or null when every weight is bound.
 */
function findUnboundLayer(model: tf.LayersModel, bound: Set<tf.layers.Layer>): tf.layers.Layer | null {
  for (const layer of model.layers) {
    if (layer.weights.length === 0 || bound.has(layer)) {
      continue;
    }
    const unbound = layer instanceof tf.LayersModel ? findUnboundLayer(layer, bound) : layer;
    if (unbound !== null) {
      return unbound;
    }
  }
  return null;
}

/**
 * Matches the weights of a TF.js manifest to the model's variables by name, as
 * tf.loadLayersModel does. When a name is not found, the weights are matched by layer
 * and, within a layer, by position (see `pairByLayer`). Manifest names need not be
 * TF.js variable names. TF.js adds a process-wide counter to some, such as
 * `forward_gru_GRU1` inside Bidirectional. The tensorflowjs 4.22 converter writes Keras
 * variable paths (`lstm/lstm_cell/kernel` for TF.js' `lstm/kernel`), puts the model name
 * in front for Keras 3 models and lists the layers in alphabetical order.
 */
function bindTfjsWeights(file: ModelFile, model: tf.LayersModel): WeightBinding[] {
  const slots = leafLayers(model).flatMap((layer) => layer.weights.map((variable, weightIndex) => ({ layer, weightIndex, variable })));
  if (slots.length !== file.weights.length) {
    throw new CentroidError(
      'MODEL_WEIGHTS_MISMATCH',
      `${file.filename}: the model config has ${slots.length} weights, but the weights manifest lists ${file.weights.length}.`,
      { file: file.filename },
    );
  }

  const byName = new Map(file.weights.map((entry) => [entry.name, entry]));
  const allNamed = slots.every((slot) => byName.has(slot.variable.originalName));
  const pairs = allNamed
    ? slots.map((slot) => ({ slot, entry: byName.get(slot.variable.originalName) as WeightEntry }))
    : pairByLayer(file, slots);

  return pairs.map(({ slot, entry }) => {
    const expected = slot.variable.shape;
    if (expected.length !== entry.shape.length || expected.some((size, axis) => size !== entry.shape[axis])) {
      throw new CentroidError(
        'MODEL_WEIGHTS_MISMATCH',
        `${file.filename}: weight "${entry.name}" should have shape ${formatShape(expected)} for ${slot.variable.originalName} ` +
          `according to the model topology, but the manifest gives shape ${formatShape(entry.shape)}.`,
        { file: file.filename, layer: slot.layer.name },
      );
    }
    return { entry, layer: slot.layer, weightIndex: slot.weightIndex };
  });
}

/** A variable of a leaf layer, with its position in `layer.weights`. */
interface WeightSlot {
  layer: tf.layers.Layer;
  weightIndex: number;
  variable: tf.LayerVariable;
}

/**
 * Gives each manifest weight to the layer whose name appears last in the weight's name
 * as a whole path segment, then pairs a layer's variables with its manifest weights in
 * manifest order. Raises MODEL_WEIGHTS_MISMATCH for a weight whose name contains no
 * layer name, or a layer whose count of weights differs.
 */
function pairByLayer(file: ModelFile, slots: WeightSlot[]): { slot: WeightSlot; entry: WeightEntry }[] {
  const layers = [...new Set(slots.map((slot) => slot.layer))];
  const layerNames = layers.map((layer) => layer.name);
  const entriesByLayer = new Map<string, WeightEntry[]>();
  for (const entry of file.weights) {
    const owner = findOwningLayer(entry.name, layerNames);
    if (owner === null) {
      throw new CentroidError(
        'MODEL_WEIGHTS_MISMATCH',
        `${file.filename}: weight "${entry.name}" of the weights manifest is neither a variable name of the model topology ` +
          'nor under the name of one of its layers.',
        { file: file.filename },
      );
    }
    entriesByLayer.set(owner, [...(entriesByLayer.get(owner) ?? []), entry]);
  }

  return layers.flatMap((layer) => {
    const entries = entriesByLayer.get(layer.name) ?? [];
    if (entries.length !== layer.weights.length) {
      throw new CentroidError(
        'MODEL_WEIGHTS_MISMATCH',
        `${file.filename}: layer "${layer.name}" has ${layer.weights.length} weights in the model topology, but the weights ` +
          `manifest has ${entries.length} under its name (${entries.map((entry) => entry.name).join(', ') || 'none'}).`,
        { file: file.filename, layer: layer.name },
      );
    }
    return slots.filter((slot) => slot.layer === layer).map((slot) => ({ slot, entry: entries[slot.weightIndex] as WeightEntry }));
  });
}

/**
 * Returns the layer name that ends last in `weightName` as whole `/`-separated segments
 * before the variable's own name, preferring the longer name on a tie, or null. Layer
 * names may contain `/` themselves, so they are matched as strings, not as single segments.
 */
function findOwningLayer(weightName: string, layerNames: string[]): string | null {
  let owner: string | null = null;
  let ownerEnd = -1;
  for (const name of layerNames) {
    const prefix = `${name}/`;
    for (let start = weightName.indexOf(prefix); start !== -1; start = weightName.indexOf(prefix, start + 1)) {
      if (start > 0 && weightName[start - 1] !== '/') {
        continue;
      }
      const end = start + name.length;
      if (end > ownerEnd || (end === ownerEnd && owner !== null && name.length > owner.length)) {
        owner = name;
        ownerEnd = end;
      }
    }
  }
  return owner;
}

function leafLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.flatMap((layer) => (layer instanceof tf.LayersModel ? leafLayers(layer) : [layer]));
}

function assignWeights(bindings: WeightBinding[]): void {
  const byLayer = new Map<tf.layers.Layer, WeightBinding[]>();
  for (const binding of bindings) {
    byLayer.set(binding.layer, [...(byLayer.get(binding.layer) ?? []), binding]);
  }

  for (const [layer, layerBindings] of byLayer) {
    const ordered = [...layerBindings].sort((a, b) => a.weightIndex - b.weightIndex);
    const tensors = ordered.map(({ entry }) => tf.tensor(entry.values, entry.shape, 'float32'));
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
export async function toLayersModel(file: ModelFile): Promise<{ model: tf.LayersModel; bindings: WeightBinding[] }> {
  const model = await buildModel(file);
  try {
    const bindings = file.format === 'tfjs' ? bindTfjsWeights(file, model) : bindWeights(file, model);
    assignWeights(bindings);
    return { model, bindings };
  } catch (error) {
    model.dispose();
    throw error;
  }
}
