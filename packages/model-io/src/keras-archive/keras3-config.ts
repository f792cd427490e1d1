// Translates a Keras model config into the Keras 3 serialization of `config.json` in a
// `.keras` archive. Keras 2 configs (tf_keras `.h5` files, TF.js model.json) differ from
// Keras 3 as follows. Every object lacks its `module`, and dtypes are strings instead of
// DTypePolicy objects. An InputLayer has `batch_input_shape` instead of `batch_shape`,
// normalization axes can be one-element lists, and inbound nodes are
// `[layer, node, tensor, kwargs]` lists. Some layers carry arguments that Keras 3
// constructors reject. Keras 3.15 undoes the same differences when it loads a Keras 2
// file (keras/src/legacy/saving/saving_utils.py, keras/src/models/functional.py). A
// Keras 3 config (a Keras 3 `.h5` file or its TF.js conversion) passes through with the
// missing `module` keys added.
import { CentroidError } from '@centroid/contracts';

import { isPlainObject } from './archive-json.js';

import type { KerasModelConfig, TrainingConfig } from '../keras-h5/types.js';

/** A layer or model entry of a Keras config. */
interface LayerConfig {
  class_name: string;
  config: Record<string, unknown>;
  [key: string]: unknown;
}

/** A layer that cannot be written into a Keras 3 archive, and why. */
export interface UnsupportedKerasLayer {
  name: string;
  className: string;
  reason: string;
}

/** Shape of a layer's output tensor, looked up to fill the `__keras_tensor__` records of inbound nodes. */
export type TensorShapeLookup = (modelPath: string[], layer: string, nodeIndex: number, tensorIndex: number) => (number | null)[] | null;

const MODEL_CLASSES = new Set(['Sequential', 'Functional', 'Model']);

/** Layer classes that this module translates, with the Keras 2 arguments that Keras 3 rejects or ignores. */
const LAYER_ARGUMENTS_TO_DROP: Record<string, string[]> = {
  InputLayer: [],
  Dense: [],
  Conv1D: [],
  Conv2D: [],
  Conv3D: [],
  // tf_keras writes Conv2D's `groups` for these, which their Keras 3 constructors reject.
  Conv2DTranspose: ['groups'],
  DepthwiseConv2D: ['groups'],
  // tf_keras also writes the unused `kernel_*` arguments of Conv for separable convolutions.
  SeparableConv1D: ['groups', 'kernel_initializer', 'kernel_regularizer', 'kernel_constraint'],
  SeparableConv2D: ['groups', 'kernel_initializer', 'kernel_regularizer', 'kernel_constraint'],
  // `fused`, `virtual_batch_size` and `adjustment` exist only in Keras 2.
  BatchNormalization: ['fused', 'virtual_batch_size', 'adjustment'],
  LayerNormalization: [],
  // Keras 3 has no `input_length`, because the input shape comes from the InputLayer.
  Embedding: ['input_length'],
  // Keras 3 recurrent layers have no `time_major`, and `implementation` only picks a kernel.
  LSTM: ['time_major', 'implementation'],
  GRU: ['time_major', 'implementation'],
  SimpleRNN: ['time_major', 'implementation'],
  Bidirectional: [],
  TimeDistributed: [],
  Dropout: [],
  Flatten: [],
  Reshape: [],
  Activation: [],
  ReLU: [],
  MaxPooling1D: [],
  MaxPooling2D: [],
  MaxPooling3D: [],
  AveragePooling1D: [],
  AveragePooling2D: [],
  AveragePooling3D: [],
  GlobalAveragePooling1D: [],
  GlobalAveragePooling2D: [],
  GlobalAveragePooling3D: [],
  GlobalMaxPooling1D: [],
  GlobalMaxPooling2D: [],
  GlobalMaxPooling3D: [],
  Add: [],
  Concatenate: [],
  ZeroPadding1D: [],
  ZeroPadding2D: [],
  ZeroPadding3D: [],
};

/** Module of each kind of nested object, chosen by the suffix of the argument that contains it. */
const OBJECT_MODULES: [suffix: string, module: string][] = [
  ['_initializer', 'keras.initializers'],
  ['_regularizer', 'keras.regularizers'],
  ['_constraint', 'keras.constraints'],
];

/** Optimizers that Keras 3 has under the same class name as Keras 2 and TF.js. */
const KERAS3_OPTIMIZERS = new Set(['SGD', 'Adam', 'AdamW', 'RMSprop', 'Adagrad', 'Adadelta', 'Adamax', 'Nadam', 'Ftrl', 'Lion']);

/** Keras 2 optimizer arguments that the Keras 3 optimizer constructors reject. */
const KERAS2_OPTIMIZER_ARGUMENTS = ['jit_compile', 'is_legacy_optimizer', 'decay'];

function isLayerConfig(value: unknown): value is LayerConfig {
  return isPlainObject(value) && typeof value.class_name === 'string' && isPlainObject(value.config);
}

function layerName(layer: LayerConfig): string {
  return typeof layer.config.name === 'string' ? layer.config.name : `(unnamed ${layer.class_name})`;
}

function moduleOf(className: string): string {
  if (className === 'Sequential') {
    return 'keras';
  }
  if (className === 'Functional') {
    return 'keras.src.models.functional';
  }
  return 'keras.layers';
}

/** Returns a Keras 3 DTypePolicy record for a Keras 2 dtype string or Policy object, or the value unchanged. */
function toDtypePolicy(dtype: unknown): unknown {
  let name: unknown = dtype;
  if (isPlainObject(dtype)) {
    const inner = isPlainObject(dtype.config) ? dtype.config : {};
    name = inner.name;
    if (dtype.class_name === 'DTypePolicy' && typeof dtype.module === 'string') {
      return dtype;
    }
  }
  if (typeof name !== 'string') {
    return dtype;
  }
  return { module: 'keras', class_name: 'DTypePolicy', config: { name }, registered_name: null };
}

/** Returns the compute dtype of a layer, the dtype of the tensors it outputs. */
function computeDtypeOf(layer: LayerConfig): string {
  const dtype = layer.config.dtype;
  const name = isPlainObject(dtype) && isPlainObject(dtype.config) ? dtype.config.name : dtype;
  if (typeof name !== 'string') {
    return 'float32';
  }
  return name.startsWith('mixed_') ? name.slice('mixed_'.length) : name;
}

/** Adds `module` and `registered_name` to a serialized initializer, regularizer or constraint. */
function withModule(value: unknown, module: string): unknown {
  if (!isPlainObject(value) || typeof value.class_name !== 'string' || value.module !== undefined) {
    return value;
  }
  return { module, class_name: value.class_name, config: value.config ?? {}, registered_name: null };
}

/**
 * Returns the reasons why `layer` cannot be written to a Keras 3 archive: a class this
 * translation does not know, or a name with `/`, which Keras 3 rejects in layer names.
 */
function findUnsupportedReasons(layer: LayerConfig): string[] {
  const reasons: string[] = [];
  if (!MODEL_CLASSES.has(layer.class_name) && LAYER_ARGUMENTS_TO_DROP[layer.class_name] === undefined) {
    reasons.push('this layer type cannot be translated to the Keras 3 format');
  }
  if (layerName(layer).includes('/')) {
    reasons.push('Keras 3 rejects "/" in layer names');
  }
  return reasons;
}

/** Lists every layer of `modelConfig`, nested ones included, that cannot be written to a Keras 3 archive. */
export function findUnsupportedKeras3Layers(modelConfig: KerasModelConfig): UnsupportedKerasLayer[] {
  const unsupported: UnsupportedKerasLayer[] = [];
  const visit = (layer: LayerConfig): void => {
    const reasons = findUnsupportedReasons(layer);
    if (reasons.length > 0) {
      unsupported.push({ name: layerName(layer), className: layer.class_name, reason: reasons.join('; ') });
    }
    for (const inner of innerLayers(layer)) {
      visit(inner);
    }
  };
  if (isLayerConfig(modelConfig)) {
    visit(modelConfig);
  }
  return unsupported;
}

function innerLayers(layer: LayerConfig): LayerConfig[] {
  const inner: unknown[] = [];
  if (MODEL_CLASSES.has(layer.class_name) && Array.isArray(layer.config.layers)) {
    inner.push(...layer.config.layers);
  }
  inner.push(layer.config.layer, layer.config.backward_layer);
  return inner.filter(isLayerConfig);
}

/** Builds the MODEL_LAYER_UNSUPPORTED error that lists each layer a Keras 3 archive cannot contain. */
export function unsupportedKeras3LayersError(filename: string, unsupported: UnsupportedKerasLayer[]): CentroidError {
  return new CentroidError('MODEL_LAYER_UNSUPPORTED', `${filename} ${describeUnsupportedKeras3Layers(unsupported)}`, {
    file: filename,
    layer: unsupported[0]?.name as string,
    field: 'output_format',
  });
}

/** Describes the layers a Keras 3 archive cannot contain, as a phrase that follows the file name. */
export function describeUnsupportedKeras3Layers(unsupported: UnsupportedKerasLayer[]): string {
  const list = unsupported.map((layer) => `layer "${layer.name}" (${layer.className}): ${layer.reason}`).join('; ');
  return (
    `cannot be written as a Keras 3 archive (.keras) because ${unsupported.length} layer(s) cannot be translated: ${list}. ` +
    'Use output_format "same", "keras_h5" or "tfjs".'
  );
}

/**
 * Returns the Keras 3 `config.json` object for `modelConfig`, without `compile_config`.
 * `shapeOf` supplies output shapes for the `__keras_tensor__` records of a translated
 * functional model. Raises MODEL_LAYER_UNSUPPORTED, listing every layer, when a layer
 * cannot be translated.
 */
export function toKeras3ModelConfig(modelConfig: KerasModelConfig, filename: string, shapeOf: TensorShapeLookup): Record<string, unknown> {
  const unsupported = findUnsupportedKeras3Layers(modelConfig);
  if (unsupported.length > 0) {
    throw unsupportedKeras3LayersError(filename, unsupported);
  }
  const { compile_config: _compileConfig, ...translated } = translateLayer(structuredClone(modelConfig) as LayerConfig, null, shapeOf);
  return translated;
}

/**
 * Translates one layer or model. `modelPath` names the nested models that contain the
 * layer, outermost first, excluding the top-level model. It is null for the top-level model.
 */
function translateLayer(layer: LayerConfig, modelPath: string[] | null, shapeOf: TensorShapeLookup): LayerConfig {
  const className = layer.class_name === 'Model' ? 'Functional' : layer.class_name;
  const config = translateArguments(className, layer.config);

  if (MODEL_CLASSES.has(className)) {
    const innerPath = modelPath === null ? [] : [...modelPath, layerName(layer)];
    if (usesKeras2Nodes(config)) {
      config.output_layers = translateOutputLayers(config);
    }
    config.layers = translateModelLayers(className, config, innerPath, shapeOf);
  }
  for (const key of ['layer', 'backward_layer']) {
    if (isLayerConfig(config[key])) {
      config[key] = translateLayer(config[key], modelPath ?? [], shapeOf);
    }
  }

  // Keras 3.15 writes the registered name only for Functional, whose module is private.
  const registeredName = className === 'Functional' ? 'Functional' : null;
  const translated: LayerConfig = { module: moduleOf(className), class_name: className, config, registered_name: registeredName };
  if (layer.build_config !== undefined) {
    translated.build_config = layer.build_config;
  }
  if (layer.compile_config !== undefined) {
    translated.compile_config = layer.compile_config;
  }
  if (layer.name !== undefined) {
    translated.name = layer.name;
  }
  if (layer.inbound_nodes !== undefined) {
    translated.inbound_nodes = layer.inbound_nodes;
  }
  return translated;
}

function translateArguments(className: string, source: Record<string, unknown>): Record<string, unknown> {
  const config: Record<string, unknown> = { ...source };
  for (const key of LAYER_ARGUMENTS_TO_DROP[className] ?? []) {
    delete config[key];
  }

  if (className === 'InputLayer') {
    if (config.batch_input_shape !== undefined && config.batch_shape === undefined) {
      config.batch_shape = config.batch_input_shape;
    }
    delete config.batch_input_shape;
  } else if (config.dtype !== undefined) {
    config.dtype = toDtypePolicy(config.dtype);
  }

  if (Array.isArray(config.axis) && config.axis.length === 1 && typeof config.axis[0] === 'number') {
    config.axis = config.axis[0];
  }
  for (const [key, value] of Object.entries(config)) {
    const objectModule = OBJECT_MODULES.find(([suffix]) => key.endsWith(suffix))?.[1];
    if (objectModule !== undefined) {
      config[key] = withModule(value, objectModule);
    }
  }
  return config;
}

/**
 * Translates the layers of a nested or top-level model. A Keras 2 Sequential layer with a
 * `batch_input_shape` and no InputLayer before it gets one, because Keras 3 builds a
 * Sequential model only from an InputLayer.
 */
function translateModelLayers(className: string, config: Record<string, unknown>, modelPath: string[], shapeOf: TensorShapeLookup): LayerConfig[] {
  const layers = Array.isArray(config.layers) ? config.layers.filter(isLayerConfig) : [];
  const translated: LayerConfig[] = [];
  const dtypes = new Map(layers.map((layer) => [layerName(layer), computeDtypeOf(layer)]));
  const nodeContext: NodeContext = { modelPath, dtypes, selfNodeModels: new Set(layers.filter(hasSelfNode).map(layerName)), shapeOf };

  for (const [index, layer] of layers.entries()) {
    const batchInputShape = layer.config.batch_input_shape;
    if (layer.class_name !== 'InputLayer' && batchInputShape !== undefined) {
      if (className === 'Sequential' && index === 0) {
        const inputDtype = typeof layer.config.dtype === 'string' ? layer.config.dtype : computeDtypeOf(layer);
        translated.push({
          module: 'keras.layers',
          class_name: 'InputLayer',
          config: { batch_shape: batchInputShape, dtype: inputDtype, sparse: false, ragged: false, name: `${layerName(layer)}_input` },
          registered_name: null,
        });
      }
      layer.config = { ...layer.config };
      delete layer.config.batch_input_shape;
    }
    const result = translateLayer(layer, modelPath, shapeOf);
    if (Array.isArray(result.inbound_nodes)) {
      result.inbound_nodes = result.inbound_nodes.map((node) => translateNode(node, nodeContext));
    }
    translated.push(result);
  }
  return translated;
}

/** Facts about one model that the translation of its layers' inbound nodes uses. */
interface NodeContext {
  /** Names of the nested models that contain the layers, outermost first. */
  modelPath: string[];
  /** Output dtype of each layer, by name. */
  dtypes: Map<string, string>;
  /** Names of the nested models whose Keras 2 node 0 is the node that built them. */
  selfNodeModels: Set<string>;
  shapeOf: TensorShapeLookup;
}

/**
 * Returns whether Keras 2 gave this nested model a node of its own when it was built from
 * an input, so that its first call in the outer model is node 1. Keras 3 creates no such
 * node, so the call is node 0 there. tf_keras 2.18 decides this in
 * `functional._should_skip_first_node`: every Functional model, and a Sequential model
 * that starts with an InputLayer.
 */
function hasSelfNode(layer: LayerConfig): boolean {
  if (layer.class_name === 'Functional' || layer.class_name === 'Model') {
    return true;
  }
  if (layer.class_name !== 'Sequential' || !Array.isArray(layer.config.layers)) {
    return false;
  }
  const first: unknown = layer.config.layers[0];
  return isLayerConfig(first) && (first.class_name === 'InputLayer' || first.config.batch_input_shape !== undefined);
}

/** Returns whether a functional model's layers list their inbound nodes in the Keras 2 format. */
function usesKeras2Nodes(config: Record<string, unknown>): boolean {
  const layers = Array.isArray(config.layers) ? config.layers.filter(isLayerConfig) : [];
  return layers.some((layer) => Array.isArray(layer.inbound_nodes) && layer.inbound_nodes.some((node) => Array.isArray(node)));
}

/** Renumbers the `[layer, node, tensor]` outputs of a Keras 2 functional model whose output is a nested model's call. */
function translateOutputLayers(config: Record<string, unknown>): unknown {
  const layers = Array.isArray(config.layers) ? config.layers.filter(isLayerConfig) : [];
  const selfNodeModels = new Set(layers.filter(hasSelfNode).map(layerName));
  const renumber = (output: unknown): unknown => {
    if (!Array.isArray(output)) {
      return output;
    }
    if (typeof output[0] === 'string' && typeof output[1] === 'number' && selfNodeModels.has(output[0])) {
      return [output[0], Math.max(0, output[1] - 1), ...output.slice(2)];
    }
    return typeof output[0] === 'string' ? output : output.map(renumber);
  };
  return renumber(config.output_layers);
}

/**
 * Converts a Keras 2 inbound node, a list of `[layer, node, tensor, kwargs]` inputs, into
 * the Keras 3 `{args, kwargs}` record. Several inputs become one list argument, as Keras 3
 * writes them for merge layers. A node already in the Keras 3 format is kept.
 */
function translateNode(node: unknown, context: NodeContext): unknown {
  if (!Array.isArray(node)) {
    return node;
  }
  const inputs = node.filter((input): input is unknown[] => Array.isArray(input) && typeof input[0] === 'string');
  const tensors = inputs.map(([layer, nodeIndex, tensorIndex]) => {
    const name = layer as string;
    const keras2Node = typeof nodeIndex === 'number' ? nodeIndex : 0;
    const keras3Node = context.selfNodeModels.has(name) ? Math.max(0, keras2Node - 1) : keras2Node;
    const tensorNumber = typeof tensorIndex === 'number' ? tensorIndex : 0;
    return {
      class_name: '__keras_tensor__',
      config: {
        // TF.js numbers nodes as Keras 2 does, so the shape is looked up by the Keras 2 index.
        shape: context.shapeOf(context.modelPath, name, keras2Node, tensorNumber),
        dtype: context.dtypes.get(name) ?? 'float32',
        keras_history: [name, keras3Node, tensorNumber],
      },
    };
  });
  const kwargs = inputs.length > 0 && isPlainObject(inputs[0]?.[3]) ? inputs[0][3] : {};
  return { args: tensors.length === 1 ? tensors : [tensors], kwargs };
}

/**
 * Translates a Keras 2 `training_config` into a Keras 3 `compile_config`. Returns the
 * config and, when the optimizer could not be translated and was left out, why.
 */
export function toKeras3CompileConfig(trainingConfig: TrainingConfig): { compileConfig: Record<string, unknown>; problem: string | null } {
  const { optimizer_config: optimizerConfig, loss, metrics, weighted_metrics: weightedMetrics, loss_weights: lossWeights } = trainingConfig;
  const compileConfig: Record<string, unknown> = {
    loss: translateLossOrMetric(loss, 'keras.losses'),
    loss_weights: lossWeights ?? null,
    metrics: translateLossOrMetric(metrics ?? null, 'keras.metrics'),
    weighted_metrics: translateLossOrMetric(weightedMetrics ?? null, 'keras.metrics'),
    run_eagerly: false,
    steps_per_execution: 1,
    jit_compile: false,
  };

  if (optimizerConfig === undefined || optimizerConfig === null) {
    return { compileConfig, problem: null };
  }
  const className = optimizerConfig.class_name.replace(/^Custom>/, '');
  if (!KERAS3_OPTIMIZERS.has(className)) {
    return { compileConfig, problem: `optimizer "${optimizerConfig.class_name}" has no Keras 3 counterpart that Centroid knows` };
  }
  const config = { ...optimizerConfig.config };
  for (const key of KERAS2_OPTIMIZER_ARGUMENTS) {
    delete config[key];
  }
  compileConfig.optimizer = { module: 'keras.optimizers', class_name: className, config, registered_name: null };
  return { compileConfig, problem: null };
}

/** Adds modules to serialized losses and metrics, and maps Keras 2's `reduction: "auto"` to Keras 3's default. */
function translateLossOrMetric(value: unknown, module: string): unknown {
  if (Array.isArray(value)) {
    return value.map((item) => translateLossOrMetric(item, module));
  }
  if (!isPlainObject(value)) {
    return value;
  }
  if (typeof value.class_name !== 'string') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, translateLossOrMetric(item, module)]));
  }
  const config = isPlainObject(value.config) ? { ...value.config } : {};
  if (config.reduction === 'auto') {
    config.reduction = 'sum_over_batch_size';
  }
  return { module: typeof value.module === 'string' ? value.module : module, class_name: value.class_name, config, registered_name: null };
}
