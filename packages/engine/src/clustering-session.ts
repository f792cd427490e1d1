// The training-time state of clustering. Each clustered weight gets a latent copy of its
// original values and a centroid table, both trainable, and a patched `read()`, so that
// the layer computes with the clustered values while the session is active. The model
// keeps its own weight objects throughout; `stripClustering` or `dispose` ends the
// session and leaves a plain model.
import * as tf from '@tensorflow/tfjs';
import { CentroidError, type CentroidInitialisation, type GradientAggregation } from '@centroid/contracts';
import { clusteredWeight } from './clustered-weight.js';
import { groupedClusteredWeight } from './grouped-clustered-weight.js';
import { assignRows, describeView, fromView, initialiseRows, outputChannelAxis, toView, type GroupedView } from './grouped-layout.js';
import { initialiseCentroids } from './initialise-centroids.js';
import { InsufficientMemoryError } from './kmeans-1d-optimal.js';
import { sumOfSquaredDifferences } from './squared-error.js';

/** One weight tensor to cluster: `layer.weights[weightIndex]`. */
export interface ClusterTarget {
  layer: tf.layers.Layer;
  weightIndex: number;
  /** Shared values for this tensor. */
  numberOfClusters: number;
  /** Options for this tensor only; a field left out takes the session's. @defaultValue the session's options */
  options?: TargetOptions;
}

/** The clustering options that a target may set for itself. */
export type TargetOptions = Partial<Pick<ClusteringOptions, 'method' | 'preserveSparsity' | 'clusterPerChannel' | 'gradientAggregation'>>;

export interface ClusteringOptions {
  /** Centroid initialisation. */
  method: CentroidInitialisation;
  /**
   * Seed for `random` and `kmeans_plus_plus`. Every tensor starts its own generator from
   * it, so a tensor's centroids do not depend on the other targets.
   */
  seed: number;
  /**
   * Pins one centroid of each tensor at exactly 0 and masks the weights that are 0 at the
   * start, so they stay 0 through fine-tuning and strip. The other N − 1 centroids
   * cluster the nonzero weights only. Needs N ≥ 2. @defaultValue false
   */
  preserveSparsity?: boolean;
  /**
   * Gives every output channel of a convolution kernel its own N centroids; other weights
   * are clustered per tensor (see {@link ClusteringSession.clusteringNote}). @defaultValue false
   */
  clusterPerChannel?: boolean;
  /** Whether a centroid's gradient is the sum or the mean of its members' gradients. @defaultValue 'sum' */
  gradientAggregation?: GradientAggregation;
}

/** The state of a weight clustered through the channels × m view (see grouped-layout.ts). */
interface GroupedState {
  view: GroupedView;
  /** 1 for a weight that trains, 0 for one pinned at 0, channels × m. */
  mask: tf.Tensor2D;
  /** The mask's values, or null without preserve_sparsity. */
  maskValues: Float32Array | null;
  /** Shared values per tensor: channels × N. */
  tableSize: number;
  /** Squared error of the original weights against their initial clustered values. */
  initialSquaredError: number;
  note: string | null;
}

interface ClusteredEntry {
  target: ClusterTarget;
  variable: tf.LayerVariable;
  /** The variable behind `variable`, read through the original `read()`. */
  original: tf.Variable;
  latent: tf.Variable;
  /** N centroids, or channels × K for a grouped weight. */
  centroids: tf.Variable;
  /** Null for the plain per-tensor clustering with summed gradients. */
  grouped: GroupedState | null;
  /** Whether the model trains this weight, which decides whether its latent weights and centroids train. */
  trainable: boolean;
  restoreRead: () => void;
}

export class ClusteringSession {
  readonly model: tf.LayersModel;
  private readonly entries: ClusteredEntry[];
  private active = true;

  private constructor(model: tf.LayersModel, entries: ClusteredEntry[]) {
    this.model = model;
    this.entries = entries;
  }

  /**
   * Starts clustering `targets` of `model`: initialises each tensor's centroids from its
   * current values and patches its `read()`. A target's own `options` override `options`
   * for that tensor. Raises LAYER_NOT_CLUSTERABLE for a target
   * that is not a float32 weight of the model, is listed twice, or contains NaN or
   * ±Infinity, and PARAMS_INVALID for a number of clusters below 1. On error the model is
   * left as it was.
   */
  static start(model: tf.LayersModel, targets: readonly ClusterTarget[], options: ClusteringOptions): ClusteringSession {
    const modelWeightIds = new Set(model.weights.map((variable) => variable.id));
    const trainableIds = new Set(model.trainableWeights.map((variable) => variable.id));
    const entries: ClusteredEntry[] = [];

    try {
      for (const target of targets) {
        const variable = resolveTargetVariable(target, modelWeightIds, entries);
        entries.push(startEntryOfLayer(target, variable, trainableIds.has(variable.id), { ...options, ...definedOptions(target.options) }));
      }
    } catch (error) {
      for (const entry of entries) endEntry(entry, null);
      throw error;
    }
    return new ClusteringSession(model, entries);
  }

  /** Whether the session still patches the model (false after strip or dispose). */
  get isActive(): boolean {
    return this.active;
  }

  get targets(): readonly ClusterTarget[] {
    return this.entries.map((entry) => entry.target);
  }

  /**
   * Returns the current centroids of `target`, indexed by cluster (ascending only until
   * training reorders them). Per channel, the channels × N matrix is flattened row by row.
   * With preserve_sparsity, the pinned 0 is not included.
   */
  centroids(target: ClusterTarget): Float32Array {
    return Float32Array.from(this.entry(target).centroids.dataSync());
  }

  /**
   * Returns what the layer report should add about how `target` was clustered (per
   * channel, per tensor and why, preserve_sparsity), or null for plain per-tensor clustering.
   */
  clusteringNote(target: ClusterTarget): string | null {
    return this.entry(target).grouped?.note ?? null;
  }

  /** Returns the number of shared values `target` may have: N, or channels × N per channel. */
  centroidTableSize(target: ClusterTarget): number {
    return this.entry(target).grouped?.tableSize ?? target.numberOfClusters;
  }

  /**
   * Returns the squared error of the original weights of `target` against their nearest
   * initial centroids for a grouped weight (per channel or with preserve_sparsity), or
   * null for plain clustering, where `measureClusteringError` computes it from the centroids.
   */
  initialSquaredError(target: ClusterTarget): number | null {
    return this.entry(target).grouped?.initialSquaredError ?? null;
  }

  /**
   * Returns the final values of a grouped weight, flattened row-major: each latent weight
   * replaced by its nearest centroid of its channel, masked weights 0. Returns null for a
   * plain weight, which `stripClustering` assigns itself.
   */
  groupedFinalValues(target: ClusterTarget): Float32Array | null {
    const { grouped, latent, centroids } = this.entry(target);
    if (grouped === null) return null;
    const rows = tf.tidy(() => toView(latent, grouped.view).dataSync() as Float32Array);
    const assigned = assignRows(rows, centroids.dataSync() as Float32Array, grouped.view.channels, grouped.maskValues);
    return tf.tidy(() => Float32Array.from(fromView(tf.tensor2d(assigned, [grouped.view.channels, grouped.view.membersPerChannel]), grouped.view).dataSync()));
  }

  /** Returns the current latent weights of `target`, flattened in row-major order. */
  latentWeights(target: ClusterTarget): Float32Array {
    return Float32Array.from(this.entry(target).latent.dataSync());
  }

  /**
   * Returns the variables that fine-tuning updates: the latent weights and centroids of
   * every clustered weight the model trains, and, when `includeUnclustered` is true,
   * every other trainable weight of the model. The original variables behind clustered
   * weights are never included, because the forward pass does not read them.
   */
  trainingVariables(includeUnclustered: boolean): tf.Variable[] {
    this.assertActive();
    const variables: tf.Variable[] = [];
    for (const entry of this.entries) {
      if (entry.trainable) variables.push(entry.latent, entry.centroids);
    }
    if (!includeUnclustered) return variables;

    const clusteredIds = new Set(this.entries.map((entry) => entry.variable.id));
    for (const variable of this.model.trainableWeights) {
      if (clusteredIds.has(variable.id)) continue;
      const value = variable.read();
      if (!(value instanceof tf.Variable)) {
        throw new CentroidError('LAYER_NOT_CLUSTERABLE', `weight ${variable.name} is not backed by a tf.Variable, so it cannot be trained`);
      }
      variables.push(value);
    }
    return variables;
  }

  /**
   * Ends the session. With `finalValues`, writes each target's values (flattened,
   * row-major) into its original variable first. With null, the original values stay.
   * Restores every `read()` and frees the latent weights and centroids.
   */
  end(finalValues: ReadonlyMap<ClusterTarget, Float32Array> | null): void {
    this.assertActive();
    if (finalValues !== null) {
      for (const entry of this.entries) {
        const values = finalValues.get(entry.target);
        if (values === undefined) {
          throw new RangeError(`no final values given for weight ${entry.variable.name}`);
        }
        if (values.length !== entry.original.size) {
          throw new RangeError(`weight ${entry.variable.name} has ${entry.original.size} values, but ${values.length} were given`);
        }
      }
    }
    for (const entry of this.entries) endEntry(entry, finalValues?.get(entry.target) ?? null);
    this.active = false;
  }

  /** Ends the session and leaves the original weights unchanged, for a canceled or failed job. */
  dispose(): void {
    if (this.active) this.end(null);
  }

  private entry(target: ClusterTarget): ClusteredEntry {
    this.assertActive();
    const entry = this.entries.find((candidate) => candidate.target === target);
    if (entry === undefined) {
      throw new RangeError(`weight ${target.weightIndex} of layer ${target.layer.name} is not a target of this session`);
    }
    return entry;
  }

  private assertActive(): void {
    if (!this.active) {
      throw new Error('the clustering session has ended; start a new one');
    }
  }
}

function resolveTargetVariable(target: ClusterTarget, modelWeightIds: Set<number>, entries: ClusteredEntry[]): tf.LayerVariable {
  const { layer, weightIndex, numberOfClusters } = target;
  const variable = layer.weights[weightIndex];
  if (variable === undefined) {
    throw new CentroidError(
      'LAYER_NOT_CLUSTERABLE',
      `layer ${layer.name} has ${layer.weights.length} weights, so weight index ${weightIndex} does not exist`,
      { layer: layer.name },
    );
  }
  if (!modelWeightIds.has(variable.id)) {
    throw new CentroidError('LAYER_NOT_CLUSTERABLE', `weight ${variable.name} of layer ${layer.name} does not belong to the model`, {
      layer: layer.name,
    });
  }
  if (entries.some((entry) => entry.variable.id === variable.id)) {
    throw new CentroidError('LAYER_NOT_CLUSTERABLE', `weight ${variable.name} of layer ${layer.name} is listed twice`, {
      layer: layer.name,
    });
  }
  if (variable.dtype !== 'float32') {
    throw new CentroidError('LAYER_NOT_CLUSTERABLE', `weight ${variable.name} has dtype ${variable.dtype}, but only float32 weights can be clustered`, {
      layer: layer.name,
    });
  }
  if (!Number.isInteger(numberOfClusters) || numberOfClusters < 1) {
    throw new CentroidError('PARAMS_INVALID', `number_of_clusters must be a positive integer, got ${numberOfClusters}`, {
      field: 'number_of_clusters',
    });
  }
  return variable;
}

/** Drops the fields set to undefined, so that they do not hide the session's options when spread. */
function definedOptions(options: TargetOptions | undefined): TargetOptions {
  return Object.fromEntries(Object.entries(options ?? {}).filter(([, value]) => value !== undefined)) as TargetOptions;
}

/** Starts an entry, and turns a refusal of the initialisation for lack of memory into an error naming the layer and weight. */
function startEntryOfLayer(target: ClusterTarget, variable: tf.LayerVariable, trainable: boolean, options: ClusteringOptions): ClusteredEntry {
  try {
    return startEntry(target, variable, trainable, options);
  } catch (error) {
    if (!(error instanceof InsufficientMemoryError)) throw error;
    throw new CentroidError('LAYER_NOT_CLUSTERABLE', `weight ${variable.name}: ${error.message}`, { layer: target.layer.name }, { cause: error });
  }
}

function startEntry(target: ClusterTarget, variable: tf.LayerVariable, trainable: boolean, options: ClusteringOptions): ClusteredEntry {
  const original = variable.read();
  if (!(original instanceof tf.Variable)) {
    throw new CentroidError('LAYER_NOT_CLUSTERABLE', `weight ${variable.name} is not backed by a tf.Variable`, { layer: target.layer.name });
  }

  // Copy, because dataSync may return the backend's own buffer.
  const values = Float32Array.from(original.dataSync() as Float32Array);
  const nonFinite = values.findIndex((value) => !Number.isFinite(value));
  if (nonFinite >= 0) {
    throw new CentroidError(
      'LAYER_NOT_CLUSTERABLE',
      `weight ${variable.name} holds ${values[nonFinite]} at flat index ${nonFinite}; clustering needs finite weights`,
      { layer: target.layer.name },
    );
  }
  const isGrouped = options.preserveSparsity === true || options.clusterPerChannel === true || options.gradientAggregation === 'avg';
  if (isGrouped) return startGroupedEntry(target, variable, original, values, trainable, options);

  const initial = initialiseCentroids(values, target.numberOfClusters, options.method, options.seed);

  const latent = tf.variable(original, trainable);
  const initialTensor = tf.tensor1d(initial);
  const centroids = tf.variable(initialTensor, trainable) as tf.Variable<tf.Rank.R1>;
  initialTensor.dispose();
  const restoreRead = patchRead(variable, () => clusteredWeight(latent, centroids));
  return { target, variable, original, latent, centroids, grouped: null, trainable, restoreRead };
}

/** Starts a weight clustered per channel, with preserve_sparsity or with averaged gradients. */
function startGroupedEntry(
  target: ClusterTarget,
  variable: tf.LayerVariable,
  original: tf.Variable,
  values: Float32Array,
  trainable: boolean,
  options: ClusteringOptions,
): ClusteredEntry {
  const preserveSparsity = options.preserveSparsity === true;
  const { numberOfClusters } = target;
  if (preserveSparsity && numberOfClusters < 2) {
    throw new CentroidError('PARAMS_INVALID', `preserve_sparsity needs number_of_clusters of at least 2, got ${numberOfClusters}`, {
      field: 'number_of_clusters',
    });
  }

  const notes: string[] = [];
  let channelAxis: number | null = null;
  if (options.clusterPerChannel === true) {
    const decision = outputChannelAxis(target.layer, target.weightIndex);
    channelAxis = decision.axis;
    notes.push(decision.reason ?? `clustered per output channel (axis ${decision.axis}), ${numberOfClusters} centroids per channel`);
  }
  const view = describeView(original.shape, channelAxis);
  const rows = tf.tidy(() => Float32Array.from(toView(original, view).dataSync() as Float32Array));

  let maskValues: Float32Array | null = null;
  if (preserveSparsity) {
    maskValues = rows.map((value) => (value === 0 ? 0 : 1));
    const zeros = maskValues.reduce((count, kept) => count + (kept === 0 ? 1 : 0), 0);
    notes.push(`preserve_sparsity: ${zeros} zero weights kept at a centroid pinned at 0, ${numberOfClusters - 1} centroids for the nonzero weights`);
  }

  // With preserve_sparsity the pinned 0 is implicit: masked weights are 0 whatever their index.
  const trainedCount = preserveSparsity ? numberOfClusters - 1 : numberOfClusters;
  const initial = initialiseRows(rows, view.channels, trainedCount, preserveSparsity, options.method, options.seed);
  const initialValues = assignRows(rows, initial, view.channels, maskValues);

  const latent = tf.variable(original, trainable);
  const initialTensor = tf.tensor2d(initial, [view.channels, trainedCount]);
  const centroids = tf.variable(initialTensor, trainable);
  initialTensor.dispose();
  const mask = maskValues === null ? tf.ones([view.channels, view.membersPerChannel]) : tf.tensor2d(maskValues, [view.channels, view.membersPerChannel]);
  const grouped: GroupedState = {
    view,
    mask: mask as tf.Tensor2D,
    maskValues,
    tableSize: view.channels * numberOfClusters,
    initialSquaredError: sumOfSquaredDifferences(initialValues, rows),
    note: notes.length === 0 ? null : notes.join('; '),
  };
  const aggregation = options.gradientAggregation ?? 'sum';
  const restoreRead = patchRead(variable, () =>
    tf.tidy(() => fromView(groupedClusteredWeight(toView(latent, view), centroids as tf.Tensor2D, grouped.mask, aggregation), view)),
  );
  return { target, variable, original, latent, centroids, grouped, trainable, restoreRead };
}

/** Replaces `variable.read` on the instance and returns the function that undoes it. */
function patchRead(variable: tf.LayerVariable, read: () => tf.Tensor): () => void {
  const ownDescriptor = Object.getOwnPropertyDescriptor(variable, 'read');
  Object.defineProperty(variable, 'read', { value: read, configurable: true, writable: true });
  return () => {
    if (ownDescriptor === undefined) {
      delete (variable as { read?: unknown }).read;
    } else {
      Object.defineProperty(variable, 'read', ownDescriptor);
    }
  };
}

function endEntry(entry: ClusteredEntry, finalValues: Float32Array | null): void {
  entry.restoreRead();
  if (finalValues !== null) {
    // Assign to the tf.Variable directly, because LayerVariable.write would also apply
    // the weight's constraint, which could add distinct values.
    tf.tidy(() => entry.original.assign(tf.tensor(finalValues, entry.original.shape, 'float32')));
  }
  entry.latent.dispose();
  entry.centroids.dispose();
  entry.grouped?.mask.dispose();
}
