// The choice of the weights to cluster and of their settings, from the layer classes, the
// weight names and shapes, and the job's `layers` rules. It needs no TF.js, so that the
// API's check at submit and the engine decide from the same rules.
import { CentroidError } from './errors.js';
import type { Warning } from './job.js';
import { outputChannelAxisOf } from './output-channel-axis.js';
import { NORMALIZATION_LAYER_CLASSES, type CentroidInitialisation, type JobParams, type LayerMatch, type LayerRule } from './params.js';

/** The job parameters that decide the selection. */
export type SelectionParams = Pick<
  JobParams,
  'number_of_clusters' | 'cluster_centroids_init' | 'preserve_sparsity' | 'cluster_per_channel' | 'cluster_depthwise' | 'cluster_biases' | 'layers'
>;

/** The clustering settings of one layer: the job-wide ones, overridden by the layer's `include` rule. */
export interface LayerSettings {
  numberOfClusters: number;
  method: CentroidInitialisation;
  preserveSparsity: boolean;
  clusterPerChannel: boolean;
  clusterDepthwise: boolean;
  clusterBiases: boolean;
}

/** A layer and the model or wrapper around it, described without TF.js. */
export interface LayerDescription {
  name: string;
  /** Keras class, such as `Dense`; for a wrapper the wrapper's class, such as `TimeDistributed`. */
  className: string;
  /** The layer inside a TimeDistributed or Bidirectional wrapper, or null for other layers. */
  wrapped: { name: string; className: string } | null;
  /** The nested models that contain the layer, outermost first, without the model itself. */
  enclosingModels: { name: string; className: string }[];
  /** The layer's weights, in order. */
  weights: WeightDescription[];
  /**
   * Whether `weights` may be incomplete, because some weights could not be attributed to
   * their layers. Such a layer is never reported as having nothing to cluster. @defaultValue false
   */
  weightsUnknown?: boolean;
}

export interface WeightDescription {
  /** The last part of the weight name without the `:0` suffix, such as `kernel` or `bias`. */
  name: string;
  shape: readonly number[];
  /** Storage type, such as `float32`; the file's type at submit, TF.js's in the engine. */
  dtype: string;
}

/**
 * The size of a weight that the class rules would cluster but that has no more weights
 * than its number of clusters, so clustering cannot shrink it.
 */
export interface TooFewWeights {
  /** Weights in the tensor, or in each output channel when `perChannel` is true. */
  weights: number;
  clusters: number;
  perChannel: boolean;
}

/** The decision for one weight. */
export interface WeightDecision {
  clusterable: boolean;
  /** Why, such as `kernel of Conv2D` or `bias of Dense: never clustered unless cluster_biases is set`. */
  reason: string;
  /** Set when the weight is skipped only because it has too few weights for its clusters. */
  tooFewWeights?: TooFewWeights;
  /** The layer's settings, or null when the weight is not clustered. */
  settings: LayerSettings | null;
  /** The `include` rule whose settings apply, or null when the job-wide settings apply or the weight is not clustered. */
  rule: LayerRule | null;
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

/** Classes whose `depthwise_kernel` is clustered only with `cluster_depthwise`. */
const DEPTHWISE_CLASSES = new Set(['DepthwiseConv2D', 'SeparableConv1D', 'SeparableConv2D']);
const FLOAT_DTYPES = new Set(['float16', 'float32', 'float64']);

/**
 * Decides whether one weight of a layer of class `className` is clustered by the class
 * rules, and why. For a wrapped layer, `className` is the wrapped layer's class and
 * `description` names both, such as `Dense in TimeDistributed`. A weight with no more
 * weights than `numberOfClusters` is skipped, and so is a kernel clustered per channel
 * whose output channels each have no more weights than that.
 */
export function decideWeight(
  className: string,
  weight: WeightDescription,
  settings: Pick<LayerSettings, 'numberOfClusters' | 'clusterDepthwise' | 'clusterBiases'> & Partial<Pick<LayerSettings, 'clusterPerChannel'>>,
  description: string = className,
): { clusterable: boolean; reason: string; tooFewWeights?: TooFewWeights } {
  const subject = `${weight.name} of ${description}`;
  const rejected = (reason: string) => ({ clusterable: false, reason });

  if ((NORMALIZATION_LAYER_CLASSES as readonly string[]).includes(className)) {
    return rejected(`${subject}: statistics and scales of ${className} are never clustered`);
  }

  const isDepthwiseKernel = weight.name === 'depthwise_kernel' && DEPTHWISE_CLASSES.has(className);
  const kernelNames = CLUSTERED_WEIGHTS[className];
  if (kernelNames === undefined && className !== 'DepthwiseConv2D') {
    return rejected(`unknown layer class ${className}: not clustered`);
  }
  if (isDepthwiseKernel && !settings.clusterDepthwise) {
    return rejected(`${subject}: depthwise kernels are not clustered by default, because it costs accuracy; set cluster_depthwise to cluster them`);
  }
  if (weight.name === 'bias') {
    if (!settings.clusterBiases) return rejected(`${subject}: never clustered unless cluster_biases is set`);
    // A DepthwiseConv2D has no kernel but its depthwise one, so its bias follows that kernel.
    if (className === 'DepthwiseConv2D' && !settings.clusterDepthwise) {
      return rejected(`${subject}: the bias of a DepthwiseConv2D is clustered only with cluster_depthwise set as well`);
    }
  } else if (!isDepthwiseKernel && !(kernelNames ?? []).includes(weight.name)) {
    const clustered = [...(kernelNames ?? []), ...(DEPTHWISE_CLASSES.has(className) ? ['depthwise_kernel'] : [])];
    return rejected(`${subject}: only ${clustered.join(' and ')} of ${className} is clustered`);
  }

  if (!FLOAT_DTYPES.has(weight.dtype)) {
    return rejected(`${subject}: dtype ${weight.dtype}, only float weights are clustered`);
  }
  const clusters = settings.numberOfClusters;
  const size = weight.shape.reduce((product, dimension) => product * dimension, 1);
  if (size <= clusters) {
    return {
      ...rejected(`${subject}: ${size} weights, no more than the ${clusters} clusters, so clustering cannot shrink it`),
      tooFewWeights: { weights: size, clusters, perChannel: false },
    };
  }
  if (settings.clusterPerChannel === true) {
    const { axis } = outputChannelAxisOf(className, weight.name, weight.shape);
    const perChannel = axis === null ? size : size / (weight.shape[axis] as number);
    if (axis !== null && perChannel <= clusters) {
      return {
        ...rejected(
          `${subject}: ${perChannel} weights per output channel (axis ${axis}), no more than the ${clusters} clusters per channel, ` +
            `so per-channel clustering cannot shrink it`,
        ),
        tooFewWeights: { weights: perChannel, clusters, perChannel: true },
      };
    }
  }
  return { clusterable: true, reason: subject };
}

/** Returns whether a glob pattern (`*` any run of characters, `?` one character) matches all of `text`. */
export function matchesPattern(pattern: string, text: string): boolean {
  // Greedy matching that backtracks only to the last `*`, so the time is at most
  // pattern length × text length even for patterns such as `*a*a*a*b`.
  let p = 0;
  let t = 0;
  let starAt = -1;
  let starText = 0;
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || (pattern[p] !== '*' && pattern[p] === text[t]))) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      starAt = p++;
      starText = t;
    } else if (starAt >= 0) {
      p = starAt + 1;
      t = ++starText;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Returns the names and classes a rule may match for `layer`: its own, the wrapped layer's and the enclosing models'. */
function candidatesOf(layer: LayerDescription): { name: string; className: string }[] {
  return [layer, ...(layer.wrapped === null ? [] : [layer.wrapped]), ...layer.enclosingModels];
}

function ruleMatches(match: LayerMatch, layer: LayerDescription): boolean {
  return candidatesOf(layer).some(({ name, className }) => {
    if (match.name !== undefined) return name === match.name;
    if (match.pattern !== undefined) return matchesPattern(match.pattern, name);
    return canonicalClass(className) === canonicalClass(match.class as string);
  });
}

/** Returns `Model` for `Functional` too, because tf_keras configs name a functional model `Functional` and TF.js names it `Model`. */
function canonicalClass(className: string): string {
  return className === 'Functional' ? 'Model' : className;
}

/** Names a rule the way error messages and reasons quote it, such as `layers[2] (pattern "block1_*")`. */
export function describeRule(rules: readonly LayerRule[], index: number): string {
  const { match } = rules[index] as LayerRule;
  const [kind, value] = Object.entries(match).find(([, entry]) => entry !== undefined) as [string, string];
  return `layers[${index}] (${kind} ${JSON.stringify(value)})`;
}

/** Returns the job-wide settings, overridden by `rule` where it sets a field. */
export function layerSettings(params: SelectionParams, rule: LayerRule | null = null): LayerSettings {
  return {
    numberOfClusters: rule?.number_of_clusters ?? params.number_of_clusters,
    method: rule?.cluster_centroids_init ?? params.cluster_centroids_init,
    preserveSparsity: rule?.preserve_sparsity ?? params.preserve_sparsity,
    clusterPerChannel: rule?.cluster_per_channel ?? params.cluster_per_channel,
    clusterDepthwise: rule?.cluster_depthwise ?? params.cluster_depthwise,
    clusterBiases: rule?.cluster_biases ?? params.cluster_biases,
  };
}

/**
 * Decides every weight of every layer (`result[i][j]` is weight j of layer i). Raises
 * PARAMS_INVALID for a rule that names a layer the model does not have. Raises
 * LAYER_NOT_CLUSTERABLE for an `include` rule by name whose layer has no weight that can
 * be clustered, such as a BatchNormalization, a Flatten or a kernel no larger than its
 * clusters, unless a later rule excludes that layer again.
 */
export function decideLayers(layers: readonly LayerDescription[], params: SelectionParams): WeightDecision[][] {
  const rules = params.layers ?? [];
  checkRuleNamesExist(layers, rules);

  const decisions: WeightDecision[][] = [];
  const decidedByName = new Map<number, { layer: LayerDescription; decisions: WeightDecision[] }[]>();
  for (const layer of layers) {
    const ruleIndex = rules.findLastIndex((rule) => ruleMatches(rule.match, layer));
    const rule = ruleIndex < 0 ? null : (rules[ruleIndex] as LayerRule);
    const layerDecisions = decideLayerWeights(layer, params, rules, ruleIndex);
    decisions.push(layerDecisions);
    if (rule?.action === 'include' && rule.match.name !== undefined) {
      decidedByName.set(ruleIndex, [...(decidedByName.get(ruleIndex) ?? []), { layer, decisions: layerDecisions }]);
    }
  }

  for (const [ruleIndex, matched] of decidedByName) {
    if (matched.some(({ layer }) => layer.weightsUnknown === true)) continue;
    if (matched.some(({ decisions: layerDecisions }) => layerDecisions.some((decision) => decision.clusterable))) continue;
    throw notClusterableError(rules, ruleIndex, matched);
  }
  return decisions;
}

function decideLayerWeights(layer: LayerDescription, params: SelectionParams, rules: readonly LayerRule[], ruleIndex: number): WeightDecision[] {
  const rule = ruleIndex < 0 ? null : (rules[ruleIndex] as LayerRule);
  if (rule?.action === 'exclude') {
    const reason = `excluded by ${describeRule(rules, ruleIndex)}`;
    return layer.weights.map((weight) => ({ clusterable: false, reason: `${weight.name} of ${describeLayer(layer)}: ${reason}`, settings: null, rule: null }));
  }

  const settings = layerSettings(params, rule);
  const className = layer.wrapped?.className ?? layer.className;
  return layer.weights.map((weight) => {
    const decided = decideWeight(className, weight, settings, describeLayer(layer));
    if (!decided.clusterable) return { ...decided, settings: null, rule: null };
    const reason = rule === null ? decided.reason : `${decided.reason}, included by ${describeRule(rules, ruleIndex)}`;
    return { clusterable: true, reason, settings, rule };
  });
}

/** Names the layer class, such as `Dense` or `Dense in TimeDistributed`. */
export function describeLayer(layer: Pick<LayerDescription, 'className' | 'wrapped'>): string {
  return layer.wrapped === null ? layer.className : `${layer.wrapped.className} in ${layer.className}`;
}

function checkRuleNamesExist(layers: readonly LayerDescription[], rules: readonly LayerRule[]): void {
  // Input layers are left out, because TF.js lists them for functional models but not for
  // Sequential ones, so the API and the engine would disagree on whether they exist.
  const named = layers.filter((layer) => layer.className !== 'InputLayer');
  const names = new Set(named.flatMap((layer) => candidatesOf(layer).map((candidate) => candidate.name)));
  rules.forEach((rule, index) => {
    const name = rule.match.name;
    if (name === undefined || names.has(name)) return;
    throw new CentroidError(
      'PARAMS_INVALID',
      `${describeRule(rules, index)} names layer "${name}", but the model has no layer of that name (layers with weights: ${listNames(layers)}).`,
      { field: `layers.${index}.match.name`, layer: name },
    );
  });
}

/**
 * Returns a LAYER_RULE_UNMATCHED warning for each `pattern` or `class` rule that matches no
 * layer of the model. Such a rule is not an error, because the same rules may be applied
 * to many models. Rules by `name` are left out, because `decideLayers` rejects those.
 */
export function findUnmatchedRules(layers: readonly LayerDescription[], rules: readonly LayerRule[]): Warning[] {
  // Input layers are left out, because TF.js lists them only for functional models, so
  // the API and the engine would disagree on whether a rule matches one.
  const candidates = layers.filter((layer) => layer.className !== 'InputLayer');
  const warnings: Warning[] = [];
  rules.forEach((rule, index) => {
    if (rule.match.name !== undefined) return;
    if (candidates.some((layer) => ruleMatches(rule.match, layer))) return;
    const existing =
      rule.match.pattern === undefined ? `the model's layer classes: ${listClasses(candidates)}` : `the model's layers with weights: ${listNames(layers)}`;
    warnings.push({
      code: 'LAYER_RULE_UNMATCHED',
      message: `${describeRule(rules, index)} matched no layer of the model, so it changed nothing. Check its spelling against ${existing}.`,
    });
  });
  return warnings;
}

/** Lists the distinct classes a `class` rule can match, wrapped layers and enclosing models included. */
function listClasses(layers: readonly LayerDescription[]): string {
  const classes = new Set(layers.flatMap((layer) => candidatesOf(layer).map((candidate) => canonicalClass(candidate.className))));
  return [...classes].join(', ') || 'none';
}

function listNames(layers: readonly LayerDescription[]): string {
  const named = layers.filter((layer) => layer.weights.length > 0).map((layer) => layer.name);
  const shown = named.slice(0, 20).join(', ');
  return named.length > 20 ? `${shown} and ${named.length - 20} more` : shown || 'none';
}

function notClusterableError(
  rules: readonly LayerRule[],
  ruleIndex: number,
  matched: { layer: LayerDescription; decisions: WeightDecision[] }[],
): CentroidError {
  const name = (rules[ruleIndex] as LayerRule).match.name as string;
  const { layer } = matched[0] as { layer: LayerDescription };
  const model = layer.enclosingModels.find((candidate) => candidate.name === name);
  const className = model === undefined ? describeLayer(layer) : model.className;
  const reasons = matched.flatMap(({ decisions }) => decisions.map((decision) => decision.reason));
  const why = reasons.length === 0 ? `it has no weights` : `none of its weights can be clustered: ${reasons.join('; ')}`;
  return new CentroidError(
    'LAYER_NOT_CLUSTERABLE',
    `${describeRule(rules, ruleIndex)} includes layer "${name}" (${className}), but ${why}.`,
    { field: `layers.${ruleIndex}.match.name`, layer: name },
  );
}
