// Decides, per weight tensor of every layer, whether it is clustered and why. The rules
// follow TFMOT's defaults, except that a layer TFMOT does not know is skipped with a
// reason instead of failing the whole model.
import * as tf from '@tensorflow/tfjs';
import type { ClusterTarget } from './clustering-session.js';

/** The decision for one weight tensor. */
export interface WeightSelection {
  /** The layer whose `weights[weightIndex]` is the tensor (the wrapper for wrapped layers). */
  layer: tf.layers.Layer;
  weightIndex: number;
  /** The weight's name without the uniquifying suffix, such as `dense/kernel`. */
  weightName: string;
  shape: number[];
  clusterable: boolean;
  /** Why, such as `kernel of Conv2D` or `bias of Dense: never clustered`. */
  reason: string;
}

// Weights clustered by default, by layer class: TFMOT's list, limited to the layers
// TF.js implements, plus EinsumDense, which is a Dense with an einsum.
const CLUSTERED_WEIGHTS: Record<string, readonly string[]> = {
  Dense: ['kernel'],
  EinsumDense: ['kernel'],
  Conv1D: ['kernel'],
  Conv2D: ['kernel'],
  Conv3D: ['kernel'],
  Conv2DTranspose: ['kernel'],
  Conv3DTranspose: ['kernel'],
  Embedding: ['embeddings'],
  SeparableConv1D: ['pointwise_kernel'],
  SeparableConv2D: ['pointwise_kernel'],
  SimpleRNN: ['kernel', 'recurrent_kernel'],
  GRU: ['kernel', 'recurrent_kernel'],
  LSTM: ['kernel', 'recurrent_kernel'],
  MultiHeadAttention: ['kernel'],
};

const NORMALIZATION_LAYERS = new Set(['BatchNormalization', 'LayerNormalization']);
const WRAPPERS = new Set(['TimeDistributed', 'Bidirectional']);

/**
 * Returns one decision per weight tensor of every layer, nested models included, in
 * layer order. A kernel with no more weights than `numberOfClusters` is skipped, since
 * clustering it cannot make it smaller. Never raises for an unknown layer.
 */
export function selectWeights(model: tf.LayersModel, numberOfClusters: number): WeightSelection[] {
  if (!Number.isInteger(numberOfClusters) || numberOfClusters < 1) {
    throw new RangeError(`numberOfClusters must be a positive integer, got ${numberOfClusters}`);
  }
  const trainable = new Set(model.trainableWeights.map((variable) => variable.id));
  const selections: WeightSelection[] = [];

  for (const layer of flattenLayers(model)) {
    layer.weights.forEach((variable, weightIndex) => {
      const { clusterable, reason } = decide(layer, variable, numberOfClusters, trainable.has(variable.id));
      selections.push({
        layer,
        weightIndex,
        weightName: variable.originalName,
        shape: variable.shape.map((dimension) => dimension ?? 0),
        clusterable,
        reason,
      });
    });
  }
  return selections;
}

/** Returns the clustering targets of the clusterable selections. */
export function clusterTargets(selections: readonly WeightSelection[], numberOfClusters: number): ClusterTarget[] {
  return selections
    .filter((selection) => selection.clusterable)
    .map((selection) => ({ layer: selection.layer, weightIndex: selection.weightIndex, numberOfClusters }));
}

function flattenLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.flatMap((layer) => (layer instanceof tf.LayersModel ? flattenLayers(layer) : [layer]));
}

function decide(
  layer: tf.layers.Layer,
  variable: tf.LayerVariable,
  numberOfClusters: number,
  isTrainable: boolean,
): { clusterable: boolean; reason: string } {
  const { className, description } = describeLayerClass(layer);
  const weight = shortWeightName(variable);
  const subject = `${weight} of ${description}`;

  if (NORMALIZATION_LAYERS.has(className)) {
    return { clusterable: false, reason: `${subject}: statistics and scales of ${className} are never clustered` };
  }
  if (className === 'DepthwiseConv2D') {
    return { clusterable: false, reason: `${subject}: depthwise kernels are not clustered by default, because it costs accuracy` };
  }

  const clusteredNames = CLUSTERED_WEIGHTS[className];
  if (clusteredNames === undefined) {
    return { clusterable: false, reason: `unknown layer class ${className}: not clustered` };
  }
  if (weight === 'bias') {
    return { clusterable: false, reason: `${subject}: never clustered` };
  }
  if (!clusteredNames.includes(weight)) {
    return { clusterable: false, reason: `${subject}: only ${clusteredNames.join(' and ')} of ${className} is clustered` };
  }

  if (variable.dtype !== 'float32') {
    return { clusterable: false, reason: `${subject}: dtype ${variable.dtype}, only float32 weights are clustered` };
  }
  const size = variable.shape.reduce<number>((product, dimension) => product * (dimension ?? 0), 1);
  if (size <= numberOfClusters) {
    return {
      clusterable: false,
      reason: `${subject}: ${size} weights, no more than the ${numberOfClusters} clusters, so clustering cannot shrink it`,
    };
  }
  if (!isTrainable) {
    return { clusterable: true, reason: `${subject} (frozen, so fine-tuning leaves its centroids as initialised)` };
  }
  return { clusterable: true, reason: subject };
}

/** Names the layer class, looking through TimeDistributed and Bidirectional to the wrapped layer. */
function describeLayerClass(layer: tf.layers.Layer): { className: string; description: string } {
  const className = layer.getClassName();
  if (!WRAPPERS.has(className)) {
    return { className, description: className };
  }
  const wrapped = layer as unknown as { layer?: tf.layers.Layer; forwardLayer?: tf.layers.Layer };
  const inner = wrapped.forwardLayer ?? wrapped.layer;
  if (inner === undefined) {
    return { className, description: className };
  }
  const innerClassName = inner.getClassName();
  return { className: innerClassName, description: `${innerClassName} in ${className}` };
}

function shortWeightName(variable: tf.LayerVariable): string {
  const parts = variable.originalName.split('/');
  return parts[parts.length - 1] as string;
}
