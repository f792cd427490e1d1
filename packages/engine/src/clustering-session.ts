// The training-time state of clustering. Each clustered weight gets a latent copy of its
// original values and a centroid table, both trainable, and a patched `read()`, so that
// the layer computes with the clustered values while the session is active. The model
// keeps its own weight objects throughout; `stripClustering` or `dispose` ends the
// session and leaves a plain model.
import * as tf from '@tensorflow/tfjs';
import { CentroidError, type CentroidInitialisation } from '@centroid/contracts';
import { clusteredWeight } from './clustered-weight.js';
import { initialiseCentroids } from './initialise-centroids.js';

/** One weight tensor to cluster: `layer.weights[weightIndex]`. */
export interface ClusterTarget {
  layer: tf.layers.Layer;
  weightIndex: number;
  /** Shared values for this tensor. */
  numberOfClusters: number;
}

export interface ClusteringOptions {
  /** Centroid initialisation. */
  method: CentroidInitialisation;
  /**
   * Seed for `random` and `kmeans_plus_plus`. Every tensor starts its own generator from
   * it, so a tensor's centroids do not depend on the other targets.
   */
  seed: number;
}

interface ClusteredEntry {
  target: ClusterTarget;
  variable: tf.LayerVariable;
  /** The variable behind `variable`, read through the original `read()`. */
  original: tf.Variable;
  latent: tf.Variable;
  centroids: tf.Variable<tf.Rank.R1>;
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
   * current values and patches its `read()`. Raises LAYER_NOT_CLUSTERABLE for a target
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
        entries.push(startEntry(target, variable, trainableIds.has(variable.id), options));
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

  /** Returns the current centroids of `target`, indexed by cluster (ascending only until training reorders them). */
  centroids(target: ClusterTarget): Float32Array {
    return Float32Array.from(this.entry(target).centroids.dataSync());
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
  const initial = initialiseCentroids(values, target.numberOfClusters, options.method, options.seed);

  const latent = tf.variable(original, trainable);
  const initialTensor = tf.tensor1d(initial);
  const centroids = tf.variable(initialTensor, trainable) as tf.Variable<tf.Rank.R1>;
  initialTensor.dispose();
  const restoreRead = patchRead(variable, () => clusteredWeight(latent, centroids));
  return { target, variable, original, latent, centroids, trainable, restoreRead };
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
}
