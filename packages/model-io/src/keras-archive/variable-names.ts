// Names the variables of a `.keras` archive with the names that TF.js gives the same
// weights, such as `kernel` and `bias`. The archive stores them by position only
// (`vars/0`, `vars/1`), and the check of `layers` rules decides by weight name.
import type { KerasModelConfig } from '../keras-h5/types.js';
import type { WeightDescriptor } from '../keras-h5/weight-index.js';

interface LayerConfig {
  class_name: string;
  config: Record<string, unknown>;
}

const MODEL_CLASSES = new Set(['Sequential', 'Functional', 'Model']);
const RECURRENT = ['kernel', 'recurrent_kernel', 'bias'];
const CONVOLUTION = ['kernel', 'bias'];

/** Weight names in TF.js order per layer class; a layer without a bias has the names before it. */
const VARIABLE_NAMES: Record<string, string[]> = {
  Dense: CONVOLUTION,
  Conv1D: CONVOLUTION,
  Conv2D: CONVOLUTION,
  Conv3D: CONVOLUTION,
  Conv1DTranspose: CONVOLUTION,
  Conv2DTranspose: CONVOLUTION,
  Conv3DTranspose: CONVOLUTION,
  DepthwiseConv1D: ['depthwise_kernel', 'bias'],
  DepthwiseConv2D: ['depthwise_kernel', 'bias'],
  SeparableConv1D: ['depthwise_kernel', 'pointwise_kernel', 'bias'],
  SeparableConv2D: ['depthwise_kernel', 'pointwise_kernel', 'bias'],
  Embedding: ['embeddings'],
  LSTM: RECURRENT,
  GRU: RECURRENT,
  SimpleRNN: RECURRENT,
};

function isLayerConfig(value: unknown): value is LayerConfig {
  return typeof value === 'object' && value !== null && typeof (value as LayerConfig).class_name === 'string' && typeof (value as LayerConfig).config === 'object';
}

/** Returns the names of a normalization layer's variables, which depend on its `scale` and `center` flags. */
function normalizationNames(layer: LayerConfig): string[] {
  const names = [...(layer.config.scale === false ? [] : ['gamma']), ...(layer.config.center === false ? [] : ['beta'])];
  return layer.class_name === 'BatchNormalization' ? [...names, 'moving_mean', 'moving_variance'] : names;
}

function variableNames(layer: LayerConfig): string[] | undefined {
  if (layer.class_name === 'BatchNormalization' || layer.class_name === 'LayerNormalization') {
    return normalizationNames(layer);
  }
  if (layer.class_name === 'TimeDistributed' && isLayerConfig(layer.config.layer)) {
    return variableNames(layer.config.layer);
  }
  if (layer.class_name === 'Bidirectional' && isLayerConfig(layer.config.layer)) {
    const inner = variableNames(layer.config.layer) ?? [];
    return [...inner, ...inner];
  }
  return VARIABLE_NAMES[layer.class_name];
}

/** Finds every layer config by its path of names, looking inside nested models. */
function indexLayers(model: LayerConfig, prefix: string[], index: Map<string, LayerConfig>): void {
  const layers = model.config.layers;
  if (!Array.isArray(layers)) {
    return;
  }
  for (const layer of layers.filter(isLayerConfig)) {
    const path = [...prefix, String(layer.config.name)];
    index.set(path.join('/'), layer);
    if (MODEL_CLASSES.has(layer.class_name)) {
      indexLayers(layer, path, index);
    }
  }
}

/**
 * Returns the descriptors in the form that a `.h5` weight list has. `layer` is the
 * top-level layer, and `name` is `<layer>/<weight>`, such as `dense/kernel`. The weight
 * is named as TF.js names it, or `vars_<i>` for a layer class not listed here.
 */
export function nameArchiveVariables(modelConfig: KerasModelConfig, weights: WeightDescriptor[]): WeightDescriptor[] {
  const index = new Map<string, LayerConfig>();
  indexLayers(modelConfig as unknown as LayerConfig, [], index);
  const positions = new Map<string, number>();

  return weights.map((weight) => {
    const path = weight.layerPath ?? [weight.layer];
    const key = path.join('/');
    const position = positions.get(key) ?? 0;
    positions.set(key, position + 1);
    const layer = index.get(key);
    const names = layer === undefined ? undefined : variableNames(layer);
    const variable = names?.[position] ?? `vars_${position}`;
    return { ...weight, layer: path[0] as string, name: `${weight.layer}/${variable}` };
  });
}
