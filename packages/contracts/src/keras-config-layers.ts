// Describes the layers of a Keras model from its config and weight list, without TF.js, so
// that the API can check the job's `layers` rules against an upload at submit.
import type { LayerDescription, WeightDescription } from './layer-selection.js';

/** A weight dataset as `inspectModelFile` lists it. */
export interface FileWeight {
  /** The top-level layer whose group contains the weight. */
  layer: string;
  /** Stored weight name, such as `dense/kernel:0` (Keras 2) or `model/dense/kernel` (Keras 3). */
  name: string;
  shape: number[];
  dtype: string;
}

interface LayerConfig {
  class_name: string;
  config: Record<string, unknown>;
}

const MODEL_CLASSES = new Set(['Sequential', 'Functional', 'Model']);
const WRAPPERS = new Set(['TimeDistributed', 'Bidirectional']);

/**
 * Returns every layer of the model config, the layers of nested models included, with the
 * weights that the file stores for it. The weights of a nested model are stored in one
 * group, so each is assigned to a layer by the layer name inside the weight's name. When
 * one of them cannot be assigned that way, every layer of that nested model is marked
 * `weightsUnknown`.
 */
export function describeModelLayers(modelConfig: unknown, weights: readonly FileWeight[]): LayerDescription[] {
  const byGroup = new Map<string, FileWeight[]>();
  for (const weight of weights) byGroup.set(weight.layer, [...(byGroup.get(weight.layer) ?? []), weight]);

  const descriptions: LayerDescription[] = [];
  for (const layer of childLayers(modelConfig)) {
    const group = byGroup.get(layerName(layer)) ?? [];
    if (!MODEL_CLASSES.has(layer.class_name)) {
      descriptions.push(describe(layer, [], group.map(toWeightDescription)));
      continue;
    }
    descriptions.push(...describeNestedModel(layer, group));
  }
  return descriptions;
}

function describeNestedModel(model: LayerConfig, group: readonly FileWeight[]): LayerDescription[] {
  const flattened: { layer: LayerConfig; enclosingModels: LayerDescription['enclosingModels'] }[] = [];
  const visit = (current: LayerConfig, enclosingModels: LayerDescription['enclosingModels']) => {
    const inner = [...enclosingModels, { name: layerName(current), className: current.class_name }];
    for (const child of childLayers(current)) {
      if (MODEL_CLASSES.has(child.class_name)) visit(child, inner);
      else flattened.push({ layer: child, enclosingModels: inner });
    }
  };
  visit(model, []);

  // A weight belongs to the layer named by the last part of its name that names a layer.
  const owners = new Map<string, number>();
  flattened.forEach(({ layer }, index) => {
    owners.set(layerName(layer), index);
    const wrapped = wrappedLayer(layer);
    if (wrapped !== null && !owners.has(layerName(wrapped))) owners.set(layerName(wrapped), index);
  });
  const assigned = flattened.map((): WeightDescription[] => []);
  let unassigned = 0;
  for (const weight of group) {
    const parts = weight.name.replace(/:\d+$/, '').split('/');
    const owner = parts.slice(0, -1).reverse().find((part) => owners.has(part));
    if (owner === undefined) unassigned++;
    else assigned[owners.get(owner) as number]!.push(toWeightDescription(weight));
  }

  return flattened.map(({ layer, enclosingModels }, index) => ({
    ...describe(layer, enclosingModels, assigned[index] as WeightDescription[]),
    ...(unassigned > 0 ? { weightsUnknown: true } : {}),
  }));
}

function describe(layer: LayerConfig, enclosingModels: LayerDescription['enclosingModels'], weights: WeightDescription[]): LayerDescription {
  const wrapped = WRAPPERS.has(layer.class_name) ? wrappedLayer(layer) : null;
  return {
    name: layerName(layer),
    className: layer.class_name,
    wrapped: wrapped === null ? null : { name: layerName(wrapped), className: wrapped.class_name },
    enclosingModels,
    weights,
  };
}

function toWeightDescription(weight: FileWeight): WeightDescription {
  const parts = weight.name.replace(/:\d+$/, '').split('/');
  return { name: parts[parts.length - 1] as string, shape: weight.shape, dtype: weight.dtype };
}

/** Returns the layer configs of a model config: `config.layers`, or the list itself in the oldest Sequential format. */
function childLayers(model: unknown): LayerConfig[] {
  if (!isLayerConfig(model)) return [];
  const config = model.config as unknown;
  const layers = Array.isArray(config) ? config : (model.config.layers as unknown);
  return Array.isArray(layers) ? layers.filter(isLayerConfig) : [];
}

function wrappedLayer(layer: LayerConfig): LayerConfig | null {
  const inner = layer.config.layer;
  return isLayerConfig(inner) ? inner : null;
}

function layerName(layer: LayerConfig): string {
  const name = layer.config.name;
  return typeof name === 'string' ? name : '';
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
