// The per-tensor measurements of how much a clustering changed the weights and how
// small it could be stored, for the layer report.
import type { LayerReport } from '@centroid/contracts';
import { entropyBits, idealBytes } from './ideal-size.js';
import { sumOfSquaredDifferences, sumOfSquaredErrors } from './squared-error.js';

export type ClusteringErrorReport = Required<Pick<LayerReport, 'sse_initial' | 'sse_final' | 'entropy_bits' | 'ideal_bytes'>>;

/** The clustering of one weight tensor; null fields mean the tensor was not clustered. */
export interface ClusteringOutcome {
  /** The uploaded values, flattened in row-major order. */
  original: Float32Array;
  /** The values that are shipped, in the same order; null when the tensor was not clustered. */
  shipped: Float32Array | null;
  /** The centroids before fine-tuning, in any order; null when the tensor was not clustered. */
  initialCentroids: Float32Array | null;
  /** The size of the centroid table; null when the tensor was not clustered. */
  numberOfClusters: number | null;
}

/**
 * Measures one tensor: the squared error of the initial and the shipped clustering
 * against the original weights, the entropy of the final assignment and the ideal size.
 * An unclustered tensor ships its original values, so its `sse_final` is 0 and its
 * ideal size is plain float32. Raises RangeError when only some of the clustered fields
 * are given.
 */
export function measureClusteringError(outcome: ClusteringOutcome): ClusteringErrorReport {
  const { original, shipped, initialCentroids, numberOfClusters } = outcome;
  if (shipped === null || initialCentroids === null || numberOfClusters === null) {
    if (shipped !== null || initialCentroids !== null || numberOfClusters !== null) {
      throw new RangeError('a clustered tensor needs its shipped values, initial centroids and number of clusters');
    }
    return { sse_initial: null, sse_final: 0, entropy_bits: null, ideal_bytes: idealBytes(original, null) };
  }

  const sortedInitial = Float32Array.from(initialCentroids).sort();
  return {
    sse_initial: sumOfSquaredErrors(original, sortedInitial),
    sse_final: sumOfSquaredDifferences(shipped, original),
    entropy_bits: entropyBits(shipped),
    ideal_bytes: idealBytes(shipped, numberOfClusters),
  };
}
