// Prepares a Keras model config for TF.js 4.22 deserialisation. TF.js reads most of
// what tf_keras 2.18 writes as is, including the `module` and `registered_name` keys.
// What it cannot read is rewritten here: a few tf_keras keys, and the Keras 3 forms of
// input shapes, dtype policies and functional graph nodes. What TF.js would build with
// different results is reported, so that a model never silently predicts differently
// in TF.js than in Keras.
import * as tf from '@tensorflow/tfjs';

import { CentroidError } from '@centroid/contracts';

import type { KerasModelConfig } from './types.js';

/** A layer that TF.js 4.22 cannot build, or would build with results different from Keras. */
export interface UnsupportedLayer {
  name: string;
  className: string;
  reason: string;
}

/** A layer entry of a Keras config: `{ class_name, config }`, plus graph keys in functional models. */
interface LayerConfig {
  class_name: string;
  config: Record<string, unknown>;
  [key: string]: unknown;
}

const MODEL_CLASSES = new Set(['Sequential', 'Functional', 'Model']);

/** Float dtypes that TF.js computes in float32; it has no float16 or float64 kernels. */
const FLOAT_DTYPES = new Set(['float16', 'bfloat16', 'float32', 'float64', 'mixed_float16', 'mixed_bfloat16']);
const INTEGER_DTYPES = new Set(['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64']);

/**
 * Keras config keys that TF.js rejects for SeparableConv2D. tf_keras writes them, but its
 * SeparableConv2D builds depthwise and pointwise kernels with their own initializers.
 */
const SEPARABLE_CONV_UNUSED_KEYS = ['kernel_initializer', 'kernel_regularizer', 'kernel_constraint'];

/** Kinds of serialized object that a layer config takes as an argument, keyed by the argument's name suffix. */
type ArgumentKind = 'regularizer' | 'constraint' | 'initializer';
const ARGUMENT_KINDS: ArgumentKind[] = ['regularizer', 'constraint', 'initializer'];

/** Keras initializer class names that TF.js 4.22 registers under another spelling. */
const INITIALIZER_RENAMES: Record<string, string> = { LecunNormal: 'LeCunNormal', LecunUniform: 'LeCunUniform' };

let tfjsLayerClasses: Set<string> | null = null;
let tfjsArgumentClasses: Record<ArgumentKind, Set<string>> | null = null;

/** Returns the layer class names registered with TF.js, such as Dense and Conv2D. */
function registeredLayerClasses(): Set<string> {
  if (tfjsLayerClasses === null) {
    const registry = tf.serialization.SerializationMap.getMap().classNameMap;
    tfjsLayerClasses = new Set(
      Object.entries(registry)
        .filter(([, [constructor]]) => (constructor as { prototype: unknown }).prototype instanceof tf.layers.Layer)
        .map(([className]) => className),
    );
  }
  return tfjsLayerClasses;
}

/** Returns the regularizer, constraint and initializer class names registered with TF.js, by kind. */
function registeredArgumentClasses(): Record<ArgumentKind, Set<string>> {
  if (tfjsArgumentClasses === null) {
    // TF.js exports no base classes for these kinds, so each base is found through one instance.
    const baseOf = (instance: object) => Object.getPrototypeOf(instance.constructor) as { prototype: object };
    const bases: Record<ArgumentKind, { prototype: object }> = {
      regularizer: baseOf(tf.regularizers.l1l2()),
      constraint: baseOf(tf.constraints.nonNeg()),
      initializer: baseOf(tf.initializers.zeros()),
    };
    const registry = Object.entries(tf.serialization.SerializationMap.getMap().classNameMap);
    const classesOf = (base: { prototype: object }) =>
      new Set(registry.filter(([, [constructor]]) => constructor.prototype instanceof (base as unknown as new () => object)).map(([name]) => name));
    tfjsArgumentClasses = {
      regularizer: classesOf(bases.regularizer),
      constraint: classesOf(bases.constraint),
      initializer: classesOf(bases.initializer),
    };
  }
  return tfjsArgumentClasses;
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

/** Calls `visit` on a layer config and on every layer config nested in it. */
function visitLayers(layer: LayerConfig, visit: (layer: LayerConfig) => void): void {
  visit(layer);

  const { config } = layer;
  const nested: unknown[] = [];
  if (MODEL_CLASSES.has(layer.class_name) && Array.isArray(config.layers)) {
    nested.push(...config.layers);
  }
  // Wrappers (Bidirectional, TimeDistributed) and generic RNN layers contain inner layers.
  nested.push(config.layer, config.backward_layer, config.cell);
  if (Array.isArray(config.cell)) {
    nested.push(...config.cell);
  }
  if (Array.isArray(config.cells)) {
    nested.push(...config.cells);
  }

  for (const child of nested) {
    if (isLayerConfig(child)) {
      visitLayers(child, visit);
    }
  }
}

function layerName(layer: LayerConfig): string {
  const name = layer.config.name ?? layer.name;
  return typeof name === 'string' ? name : `(unnamed ${layer.class_name})`;
}

/** Returns the dtype name of a plain dtype string or of a serialized dtype policy. */
function dtypeName(dtype: unknown): string | null {
  if (typeof dtype === 'string') {
    return dtype;
  }
  if (isLayerConfig(dtype) && typeof dtype.config.name === 'string') {
    return dtype.config.name;
  }
  return null;
}

/**
 * Rewrites a layer's dtype to one TF.js has: float32 for every float type and dtype
 * policy, int32 for every integer type. A float64 or float16 layer therefore computes
 * in float32 in TF.js.
 */
function translateDtype(layer: LayerConfig): void {
  const name = dtypeName(layer.config.dtype);
  if (name === null) {
    return;
  }
  if (FLOAT_DTYPES.has(name)) {
    layer.config.dtype = 'float32';
  } else if (INTEGER_DTYPES.has(name)) {
    layer.config.dtype = 'int32';
  } else {
    layer.config.dtype = name;
  }
}

/** A Keras 3 tensor reference in a functional graph node. */
interface KerasTensorReference {
  class_name: '__keras_tensor__';
  config: { keras_history: [string, number, number] };
}

function isKerasTensorReference(value: unknown): value is KerasTensorReference {
  return isLayerConfig(value) && value.class_name === '__keras_tensor__' && Array.isArray(value.config.keras_history);
}

function collectTensorReferences(value: unknown, found: KerasTensorReference[]): KerasTensorReference[] {
  if (isKerasTensorReference(value)) {
    found.push(value);
  } else if (Array.isArray(value)) {
    value.forEach((item) => collectTensorReferences(item, found));
  }
  return found;
}

/**
 * Rewrites Keras 3 graph nodes, `{ args: [keras tensors], kwargs }`, into the Keras 2 form
 * that TF.js reads: a list of `[layer, nodeIndex, tensorIndex, kwargs]` per node. Keyword
 * arguments that contain tensors, such as masks, are left out.
 */
function translateInboundNodes(layer: LayerConfig): void {
  if (!Array.isArray(layer.inbound_nodes)) {
    return;
  }
  layer.inbound_nodes = layer.inbound_nodes.map((node: unknown) => {
    if (typeof node !== 'object' || node === null || Array.isArray(node) || !('args' in node)) {
      return node;
    }
    const { args, kwargs } = node as { args: unknown; kwargs?: Record<string, unknown> };
    const plainKwargs = Object.fromEntries(
      Object.entries(kwargs ?? {}).filter(([, value]) => collectTensorReferences(value, []).length === 0),
    );
    return collectTensorReferences(args, []).map(({ config }) => [...config.keras_history, plainKwargs]);
  });
}

/** Wraps a Keras 3 single `[layer, node, tensor]` entry of input_layers or output_layers in a list. */
function nestEndpointList(value: unknown): unknown {
  return Array.isArray(value) && typeof value[0] === 'string' ? [value] : value;
}

/** Returns the kind of a layer argument such as `kernel_regularizer`, or null for other arguments. */
function argumentKind(key: string): ArgumentKind | null {
  return ARGUMENT_KINDS.find((kind) => key.endsWith(`_${kind}`)) ?? null;
}

function penalty(value: unknown, fallback: number): number {
  return typeof value === 'number' ? value : fallback;
}

/**
 * Rewrites the Keras regularizers L1 and L2 as TF.js' L1L2, the only regularizer class
 * that TF.js 4.22 registers, with the same penalty. Missing factors get the defaults of
 * the Keras constructors: 0.01 for L1 and L2, 0 for L1L2 (TF.js' L1L2 would use 0.01).
 */
function translateRegularizer(regularizer: LayerConfig): LayerConfig {
  const { class_name: className, config } = regularizer;
  if (className === 'L1') {
    return { class_name: 'L1L2', config: { l1: penalty(config.l1, 0.01), l2: 0 } };
  }
  if (className === 'L2') {
    return { class_name: 'L1L2', config: { l1: 0, l2: penalty(config.l2, 0.01) } };
  }
  if (className === 'L1L2') {
    return { class_name: 'L1L2', config: { l1: penalty(config.l1, 0), l2: penalty(config.l2, 0) } };
  }
  return regularizer;
}

/** Rewrites the regularizer and initializer arguments of a layer into the classes TF.js registers. */
function translateLayerArguments(layer: LayerConfig): void {
  const { config } = layer;
  for (const [key, value] of Object.entries(config)) {
    const kind = argumentKind(key);
    if (kind === null || !isLayerConfig(value)) {
      continue;
    }
    if (kind === 'regularizer') {
      config[key] = translateRegularizer(value);
    } else if (kind === 'initializer' && INITIALIZER_RENAMES[value.class_name] !== undefined) {
      config[key] = { ...value, class_name: INITIALIZER_RENAMES[value.class_name] };
    }
  }
}

/**
 * Returns one reason per regularizer, constraint or initializer argument of a translated
 * layer that TF.js cannot build, naming the argument and its class.
 */
function findUnsupportedArguments(layer: LayerConfig): string[] {
  const reasons: string[] = [];
  for (const [key, value] of Object.entries(layer.config)) {
    const kind = argumentKind(key);
    if (kind === null || !isLayerConfig(value)) {
      continue;
    }
    if (key === 'activity_regularizer') {
      // TF.js 4.22 Layer.apply raises NotImplementedError for any layer with an activity regularizer.
      reasons.push(`activity_regularizer ${value.class_name} cannot be applied in TF.js; retrain without it`);
    } else if (!registeredArgumentClasses()[kind].has(value.class_name)) {
      reasons.push(`${key} ${value.class_name}: TF.js has no ${kind} of this class`);
    }
  }
  return reasons;
}

/** Returns every reason why TF.js cannot build this translated layer as Keras does. */
function findUnsupportedReasons(layer: LayerConfig): string[] {
  if (!registeredLayerClasses().has(layer.class_name)) {
    return ['TF.js has no layer of this class'];
  }
  const setting = findUnsupportedSetting(layer);
  return [...(setting === null ? [] : [setting]), ...findUnsupportedArguments(layer)];
}

function isKeras3Node(node: unknown): boolean {
  return typeof node === 'object' && node !== null && !Array.isArray(node) && 'args' in node;
}

/**
 * Shifts the node index of every reference to a nested model by one in a Keras 3
 * functional config. TF.js, like Keras 2, gives a nested functional model a node of its
 * own when it is built, so its first call in the outer graph is node 1, while Keras 3
 * numbers that call node 0. Without the shift TF.js reads the nested model's inner
 * node and reports a disconnected graph.
 */
function shiftNestedModelNodes(model: LayerConfig): void {
  const layers = model.config.layers;
  if (!Array.isArray(layers) || !layers.some((layer) => isLayerConfig(layer) && Array.isArray(layer.inbound_nodes) && layer.inbound_nodes.some(isKeras3Node))) {
    return;
  }
  const nestedModels = new Set(
    layers.filter((layer): layer is LayerConfig => isLayerConfig(layer) && MODEL_CLASSES.has(layer.class_name)).map(layerName),
  );
  if (nestedModels.size === 0) {
    return;
  }

  for (const layer of layers) {
    if (!isLayerConfig(layer) || !Array.isArray(layer.inbound_nodes)) {
      continue;
    }
    for (const node of layer.inbound_nodes.filter(isKeras3Node) as { args: unknown; kwargs?: unknown }[]) {
      for (const reference of [...collectTensorReferences(node.args, []), ...collectTensorReferences(Object.values(node.kwargs ?? {}), [])]) {
        const history = reference.config.keras_history;
        if (nestedModels.has(history[0])) {
          history[1] += 1;
        }
      }
    }
  }
  for (const key of ['input_layers', 'output_layers']) {
    const endpoints = nestEndpointList(model.config[key]);
    if (!Array.isArray(endpoints)) {
      continue;
    }
    for (const endpoint of endpoints) {
      if (Array.isArray(endpoint) && typeof endpoint[0] === 'string' && nestedModels.has(endpoint[0]) && typeof endpoint[1] === 'number') {
        endpoint[1] += 1;
      }
    }
    model.config[key] = endpoints;
  }
}

function translateLayer(layer: LayerConfig): void {
  const { config } = layer;
  if (MODEL_CLASSES.has(layer.class_name)) {
    shiftNestedModelNodes(layer);
  }
  translateDtype(layer);
  translateInboundNodes(layer);
  translateLayerArguments(layer);

  if (layer.class_name === 'SeparableConv2D') {
    for (const key of SEPARABLE_CONV_UNUSED_KEYS) {
      delete config[key];
    }
  }
  if (layer.class_name === 'InputLayer' && config.batch_shape !== undefined && config.batch_input_shape === undefined) {
    config.batch_input_shape = config.batch_shape;
    delete config.batch_shape;
    delete config.optional;
  }
  for (const key of ['input_layers', 'output_layers']) {
    if (MODEL_CLASSES.has(layer.class_name) && config[key] !== undefined) {
      config[key] = nestEndpointList(config[key]);
    }
  }
}

/**
 * Returns why TF.js cannot reproduce a setting of this layer's Keras behaviour, or null
 * when it can. Each case was seen to fail, or to predict differently, with tf_keras 2.18
 * and TF.js 4.22.
 */
function findUnsupportedSetting(layer: LayerConfig): string | null {
  const { class_name: className, config } = layer;
  // KerasGRU (gru-reset-after.ts) builds GRU layers with reset_after=True. A GRUCell in a
  // generic RNN layer is still built by TF.js' own GRUCell, which raises on it.
  if (className === 'GRUCell' && config.reset_after === true) {
    return 'reset_after=True in a GRUCell of a generic RNN layer is not implemented in TF.js; use a GRU layer or reset_after=False';
  }
  if (typeof config.groups === 'number' && config.groups !== 1) {
    return `grouped convolution with groups=${config.groups} is not implemented in TF.js`;
  }
  if (className === 'ReLU' && ((Number(config.negative_slope ?? 0) !== 0) || Number(config.threshold ?? 0) !== 0)) {
    return 'TF.js ReLU ignores negative_slope and threshold';
  }
  if (className.endsWith('Transpose') && config.output_padding !== undefined && config.output_padding !== null) {
    return 'TF.js ignores output_padding';
  }
  if (className === 'UpSampling2D' && config.interpolation !== undefined && config.interpolation !== 'nearest') {
    return `TF.js computes interpolation="${String(config.interpolation)}" differently from Keras; only "nearest" matches`;
  }
  return null;
}

/**
 * Returns a copy of `modelConfig` that TF.js can deserialise, and the layers that TF.js
 * cannot build faithfully. The input is not modified.
 */
export function translateModelConfig(modelConfig: KerasModelConfig): {
  topology: KerasModelConfig;
  unsupported: UnsupportedLayer[];
} {
  const topology = structuredClone(modelConfig);
  const unsupported: UnsupportedLayer[] = [];

  visitLayers(topology as LayerConfig, (layer) => {
    translateLayer(layer);
    const reasons = findUnsupportedReasons(layer);
    if (reasons.length > 0) {
      unsupported.push({ name: layerName(layer), className: layer.class_name, reason: reasons.join('; ') });
    }
  });

  return { topology, unsupported };
}

/**
 * Describes the first Keras 3 form in `modelConfig` that TF.js 4.22 cannot deserialise,
 * or returns null when there is none. The forms are an InputLayer with `batch_shape`, a
 * dtype given as a dtype policy object and a functional node in the `{ args, kwargs }`
 * form. Keras 3 writes the first two for every model. `translateModelConfig` rewrites
 * all three, so its output never contains them.
 */
export function findKeras3Form(modelConfig: KerasModelConfig): string | null {
  let found: string | null = null;
  visitLayers(modelConfig as LayerConfig, (layer) => {
    if (found !== null) {
      return;
    }
    const kind = MODEL_CLASSES.has(layer.class_name) ? 'model' : 'layer';
    const where = `${kind} "${layerName(layer)}" (${layer.class_name})`;
    if (layer.class_name === 'InputLayer' && layer.config.batch_shape !== undefined && layer.config.batch_input_shape === undefined) {
      found = `${where} has "batch_shape"`;
    } else if (isLayerConfig(layer.config.dtype)) {
      found = `${where} has the dtype policy ${layer.config.dtype.class_name}`;
    } else if (Array.isArray(layer.inbound_nodes) && layer.inbound_nodes.some(isKeras3Node)) {
      found = `${where} has inbound nodes in the Keras 3 form { args, kwargs }`;
    }
  });
  return found;
}

/**
 * Builds the MODEL_LAYER_UNSUPPORTED error that lists every layer TF.js cannot build, by
 * name and class. `cause` is the error that these layers explain, if any.
 */
export function unsupportedLayersError(filename: string, unsupported: UnsupportedLayer[], cause?: unknown): CentroidError {
  const list = unsupported.map((layer) => `layer "${layer.name}" (${layer.className}): ${layer.reason}`).join('; ');
  return new CentroidError(
    'MODEL_LAYER_UNSUPPORTED',
    `${filename}: ${unsupported.length} layer(s) cannot be built in TF.js: ${list}.`,
    { file: filename, layer: unsupported[0]?.name as string },
    cause === undefined ? undefined : { cause },
  );
}
