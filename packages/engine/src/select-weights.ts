// Decides, per weight tensor of every layer, whether it is clustered, why, and with which
// settings. The rules live in @centroid/contracts (`decideLayers`), shared with the API's
// check at submit; this module describes a TF.js model to them. By default they follow
// TFMOT, except that a layer TFMOT does not know is skipped with a reason instead of
// failing the whole model.
import * as tf from '@tensorflow/tfjs';
import {
  decideLayers,
  findUnmatchedRules,
  type LayerDescription,
  type LayerRule,
  type LayerSettings,
  type SelectionParams,
  type TooFewWeights,
  type Warning,
} from '@centroid/contracts';
import type { ClusterTarget, TargetOptions } from './clustering-session.js';

/** The decision for one weight tensor. */
export interface WeightSelection {
  /** The layer whose `weights[weightIndex]` is the tensor (the wrapper for wrapped layers). */
  layer: tf.layers.Layer;
  weightIndex: number;
  /** The weight's name without the uniquifying suffix, such as `dense/kernel`. */
  weightName: string;
  shape: number[];
  clusterable: boolean;
  /** Why, such as `kernel of Conv2D` or `bias of Dense: never clustered unless cluster_biases is set`. */
  reason: string;
  /** The layer's clustering settings, or null when the weight is not clustered. */
  settings: LayerSettings | null;
  /** The `layers` rule whose settings apply, or null when the job-wide settings apply or the weight is not clustered. */
  rule: LayerRule | null;
  /** Set when the weight is skipped only because it has too few weights for its clusters. */
  tooFewWeights?: TooFewWeights;
}

const WRAPPERS = new Set(['TimeDistributed', 'Bidirectional']);

/** A layer of the model with the nested models around it. */
interface FlatLayer {
  layer: tf.layers.Layer;
  enclosingModels: { name: string; className: string }[];
}

/**
 * Returns one decision per weight tensor of every layer, nested models included, in
 * layer order. `params` is the job's parameters, or just a number of clusters for the
 * default rules. A kernel with no more weights than its number of clusters, in the tensor
 * or per output channel with `cluster_per_channel`, is skipped, since clustering it cannot
 * make it smaller. Never raises for an unknown layer, but
 * raises as `decideLayers` does for a `layers` rule that names a missing layer or a layer
 * with nothing to cluster.
 */
export function selectWeights(model: tf.LayersModel, params: number | SelectionParams): WeightSelection[] {
  const selectionParams = typeof params === 'number' ? defaultParams(params) : params;
  const { number_of_clusters: numberOfClusters } = selectionParams;
  if (!Number.isInteger(numberOfClusters) || numberOfClusters < 1) {
    throw new RangeError(`numberOfClusters must be a positive integer, got ${numberOfClusters}`);
  }

  const trainable = new Set(model.trainableWeights.map((variable) => variable.id));
  const layers = flattenLayers(model, []);
  const decisions = decideLayers(layers.map(describeLayer), selectionParams);

  return layers.flatMap(({ layer }, layerIndex) =>
    layer.weights.map((variable, weightIndex) => {
      const decision = decisions[layerIndex]![weightIndex]!;
      const isFrozen = decision.clusterable && !trainable.has(variable.id);
      const selection: WeightSelection = {
        layer,
        weightIndex,
        weightName: variable.originalName,
        shape: variable.shape.map((dimension) => dimension ?? 0),
        clusterable: decision.clusterable,
        reason: isFrozen ? `${decision.reason} (frozen, so fine-tuning leaves its centroids as initialised)` : decision.reason,
        settings: decision.settings,
        rule: decision.rule,
      };
      if (decision.tooFewWeights !== undefined) selection.tooFewWeights = decision.tooFewWeights;
      return selection;
    }),
  );
}

/**
 * Returns a LAYER_RULE_UNMATCHED warning for each `pattern` or `class` rule of
 * `params.layers` that matches no layer of `model`, nested models included.
 */
export function findUnmatchedRulesInModel(model: tf.LayersModel, params: Pick<SelectionParams, 'layers'>): Warning[] {
  const rules = params.layers ?? [];
  if (rules.length === 0) return [];
  return findUnmatchedRules(flattenLayers(model, []).map(describeLayer), rules);
}

/**
 * Returns a NOTHING_CLUSTERED warning when no weight is clustered although some weights
 * are skipped only for having no more weights than their number of clusters, or null
 * otherwise. A model with nothing the layer rules would cluster, such as one without
 * kernels, gets no warning.
 */
export function findNothingClustered(selections: readonly WeightSelection[]): Warning | null {
  if (selections.some((selection) => selection.clusterable)) return null;
  const tooSmall = selections.flatMap((selection) => (selection.tooFewWeights === undefined ? [] : [selection.tooFewWeights]));
  if (tooSmall.length === 0) return null;

  const largest = tooSmall.reduce((max, entry) => (entry.weights > max.weights ? entry : max));
  const clusterCounts = [...new Set(tooSmall.map((entry) => entry.clusters))].sort((a, b) => a - b);
  const clusters =
    clusterCounts.length === 1 ? `number_of_clusters (${formatCount(clusterCounts[0]!)})` : `their number of clusters (${clusterCounts.map(formatCount).join(', ')})`;
  const perChannelCount = tooSmall.filter((entry) => entry.perChannel).length;
  const perChannel = perChannelCount === 0 ? '' : `, counted per output channel for the ${perChannelCount} kernel(s) clustered per channel`;
  const tensors = tooSmall.length === 1 ? 'the only candidate weight tensor has' : `all ${tooSmall.length} candidate weight tensors have`;
  const largestSize = `${formatCount(largest.weights)} weights${largest.perChannel ? ' per output channel' : ''}`;
  return {
    code: 'NOTHING_CLUSTERED',
    message:
      `No weight was clustered, so the model is returned unchanged: ${tensors} no more weights than ${clusters}${perChannel}. ` +
      `The largest has ${largestSize}, so at most ${formatCount(largest.weights - 1)} clusters would shrink it.`,
  };
}

function formatCount(count: number): string {
  return count.toLocaleString('en-US');
}

/** Returns the clustering targets of the clusterable selections, each with its layer's settings. */
export function clusterTargets(selections: readonly WeightSelection[]): ClusterTarget[] {
  return selections.flatMap((selection) => {
    if (!selection.clusterable || selection.settings === null) return [];
    const target: ClusterTarget = { layer: selection.layer, weightIndex: selection.weightIndex, numberOfClusters: selection.settings.numberOfClusters };
    const options = ruleOptions(selection.rule);
    if (options !== null) target.options = options;
    return [target];
  });
}

/** Returns the session options that a `layers` rule overrides, or null when it overrides none. */
function ruleOptions(rule: LayerRule | null): TargetOptions | null {
  if (rule === null) return null;
  const options: TargetOptions = {};
  if (rule.cluster_centroids_init !== undefined) options.method = rule.cluster_centroids_init;
  if (rule.preserve_sparsity !== undefined) options.preserveSparsity = rule.preserve_sparsity;
  if (rule.cluster_per_channel !== undefined) options.clusterPerChannel = rule.cluster_per_channel;
  if (rule.gradient_aggregation !== undefined) options.gradientAggregation = rule.gradient_aggregation;
  return Object.keys(options).length === 0 ? null : options;
}

function defaultParams(numberOfClusters: number): SelectionParams {
  return {
    number_of_clusters: numberOfClusters,
    cluster_centroids_init: 'kmeans_plus_plus',
    preserve_sparsity: false,
    cluster_per_channel: false,
    cluster_depthwise: false,
    cluster_biases: false,
  };
}

function flattenLayers(model: tf.LayersModel, enclosingModels: FlatLayer['enclosingModels']): FlatLayer[] {
  return model.layers.flatMap((layer) => {
    if (!(layer instanceof tf.LayersModel)) return [{ layer, enclosingModels }];
    return flattenLayers(layer, [...enclosingModels, { name: layer.name, className: layer.getClassName() }]);
  });
}

/** Describes a TF.js layer for `decideLayers`, looking through TimeDistributed and Bidirectional to the wrapped layer. */
function describeLayer({ layer, enclosingModels }: FlatLayer): LayerDescription {
  const className = layer.getClassName();
  const wrapped = WRAPPERS.has(className) ? wrappedLayer(layer) : null;
  return {
    name: layer.name,
    className,
    wrapped: wrapped === null ? null : { name: wrapped.name, className: wrapped.getClassName() },
    enclosingModels,
    weights: layer.weights.map((variable) => ({
      name: shortWeightName(variable),
      shape: variable.shape.map((dimension) => dimension ?? 0),
      dtype: variable.dtype,
    })),
  };
}

function wrappedLayer(layer: tf.layers.Layer): tf.layers.Layer | null {
  const wrapper = layer as unknown as { layer?: tf.layers.Layer; forwardLayer?: tf.layers.Layer };
  return wrapper.forwardLayer ?? wrapper.layer ?? null;
}

function shortWeightName(variable: tf.LayerVariable): string {
  const parts = variable.originalName.split('/');
  return parts[parts.length - 1] as string;
}
