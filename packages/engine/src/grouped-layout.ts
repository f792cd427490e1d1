// The channels × m view of a weight for per-channel clustering: the output-channel axis,
// the mapping to and from the view, and the initialisation and assignment of each row,
// with or without preserve_sparsity.
import * as tf from '@tensorflow/tfjs';
import { outputChannelAxisOf, type CentroidInitialisation, type ChannelAxisDecision } from '@centroid/contracts';
import { assignClusters } from './assign-clusters.js';
import { initialiseCentroids } from './initialise-centroids.js';

/**
 * Finds the output-channel axis of `layer.weights[weightIndex]` by `outputChannelAxisOf`,
 * looking through TimeDistributed to the wrapped layer's class.
 */
export function outputChannelAxis(layer: tf.layers.Layer, weightIndex: number): ChannelAxisDecision {
  let className = layer.getClassName();
  if (className === 'TimeDistributed') {
    const inner = (layer as unknown as { layer?: tf.layers.Layer }).layer;
    if (inner !== undefined) className = inner.getClassName();
  }
  const variable = layer.weights[weightIndex] as tf.LayerVariable;
  const weightName = variable.originalName.split('/').pop() as string;
  return outputChannelAxisOf(className, weightName, variable.shape.map((dimension) => dimension ?? 0));
}

/** The mapping of a weight to the channels × m view: transpose by `permutation`, then reshape. */
export interface GroupedView {
  channels: number;
  /** Weights per channel. */
  membersPerChannel: number;
  permutation: number[];
  /** The weight's shape after the transpose, before the reshape. */
  transposedShape: number[];
}

/** Describes the view with one row per index of `channelAxis`, or a single row when it is null. */
export function describeView(shape: readonly number[], channelAxis: number | null): GroupedView {
  const size = shape.reduce((product, dimension) => product * dimension, 1);
  if (channelAxis === null) {
    return { channels: 1, membersPerChannel: size, permutation: shape.map((_, axis) => axis), transposedShape: [...shape] };
  }
  const permutation = [channelAxis, ...shape.map((_, axis) => axis).filter((axis) => axis !== channelAxis)];
  const channels = shape[channelAxis] as number;
  return { channels, membersPerChannel: size / channels, permutation, transposedShape: permutation.map((axis) => shape[axis] as number) };
}

/** Returns `weight` as the channels × m view. */
export function toView(weight: tf.Tensor, view: GroupedView): tf.Tensor2D {
  return tf.tidy(() => tf.reshape(tf.transpose(weight, view.permutation), [view.channels, view.membersPerChannel]));
}

/** Returns the channels × m view in the weight's own shape. */
export function fromView(viewTensor: tf.Tensor, view: GroupedView): tf.Tensor {
  return tf.tidy(() => {
    const inverse = new Array<number>(view.permutation.length);
    view.permutation.forEach((axis, position) => {
      inverse[axis] = position;
    });
    return tf.transpose(tf.reshape(viewTensor, view.transposedShape), inverse);
  });
}

/**
 * Initialises the centroids of every row of `rows` (channels × m, row-major) and returns
 * them as a channels × `count` matrix, row-major, each row sorted ascending.
 *
 * With `preserveSparsity`, `count` excludes the pinned zero centroid, and only the
 * nonzero weights are clustered. The `count` centroids are split between the negative
 * and the positive weights in proportion to their counts (at least one each when both
 * occur and `count` ≥ 2). Each side is initialised with `method` on its own values. A row with no nonzero weights gets zeros, which receive no weights.
 */
export function initialiseRows(
  rows: Float32Array,
  channels: number,
  count: number,
  preserveSparsity: boolean,
  method: CentroidInitialisation,
  seed: number,
): Float32Array {
  const membersPerChannel = rows.length / channels;
  const centroids = new Float32Array(channels * count);
  for (let channel = 0; channel < channels; channel++) {
    const row = rows.subarray(channel * membersPerChannel, (channel + 1) * membersPerChannel);
    const rowCentroids = preserveSparsity ? initialiseSignedSides(row, count, method, seed) : initialiseCentroids(row, count, method, seed);
    centroids.set(rowCentroids, channel * count);
  }
  return centroids;
}

function initialiseSignedSides(row: Float32Array, count: number, method: CentroidInitialisation, seed: number): Float32Array {
  const negatives = row.filter((value) => value < 0);
  const positives = row.filter((value) => value > 0);
  if (negatives.length + positives.length === 0) {
    return new Float32Array(count);
  }

  let negativeCount: number;
  if (negatives.length === 0) negativeCount = 0;
  else if (positives.length === 0) negativeCount = count;
  else if (count === 1) negativeCount = negatives.length > positives.length ? 1 : 0;
  else {
    const proportional = Math.round((count * negatives.length) / (negatives.length + positives.length));
    negativeCount = Math.min(count - 1, Math.max(1, proportional));
  }

  const result = new Float32Array(count);
  if (negativeCount > 0) result.set(initialiseCentroids(negatives, negativeCount, method, seed), 0);
  if (negativeCount < count) result.set(initialiseCentroids(positives, count - negativeCount, method, seed), negativeCount);
  return result;
}

/**
 * Assigns each entry of `rows` (channels × m) to its nearest centroid in its row of
 * `centroids` (channels × K) with the exact {@link assignClusters}, and returns the
 * centroid values, multiplied by `mask` where one is given.
 */
export function assignRows(rows: Float32Array, centroids: Float32Array, channels: number, mask: Float32Array | null): Float32Array {
  const membersPerChannel = rows.length / channels;
  const count = centroids.length / channels;
  const values = new Float32Array(rows.length);
  for (let channel = 0; channel < channels; channel++) {
    const start = channel * membersPerChannel;
    const sorted = centroids.slice(channel * count, (channel + 1) * count).sort();
    const assignment = assignClusters(rows.subarray(start, start + membersPerChannel), sorted);
    for (let i = 0; i < membersPerChannel; i++) {
      const kept = mask === null || mask[start + i] !== 0;
      values[start + i] = kept ? (sorted[assignment[i] as number] as number) : 0;
    }
  }
  return values;
}
