// The clustered weight for per-channel clustering, preserve_sparsity and the AVG gradient
// aggregation. The weight is viewed as a channels × m matrix whose row c contains the m
// weights of channel c, with one row when clustering per tensor. The centroids form a
// channels × K matrix, so each row is assigned to its own centroids.
import * as tf from '@tensorflow/tfjs';
import type { GradientAggregation } from '@centroid/contracts';

/** A row-wise nearest-centroid assignment in terms of each row's sorted centroids. */
interface GroupedSortedAssignment {
  /** int32, channels × m: each value's position among its row's sorted centroids. */
  positions: tf.Tensor2D;
  /** Each row's centroids sorted ascending, channels × K. */
  sortedCentroids: tf.Tensor2D;
  /** int32, channels × K: the input index of the centroid at each sorted position of the row. */
  slotIndices: tf.Tensor2D;
}

/**
 * Assigns each entry of `values` (channels × m) to its nearest centroid in the same row
 * of `centroids` (channels × K). Sorts each row of centroids and searches the midpoints
 * between neighbours, so it needs no channels × m × K distance tensor. Follows the tie
 * rules of `sortedAssignmentOp`: a value on a midpoint goes to the smaller centroid, and
 * among equal centroids to the lowest index.
 */
function assignGroupedClusters(values: tf.Tensor2D, centroids: tf.Tensor2D): GroupedSortedAssignment {
  return tf.tidy(() => {
    const [channels, count] = centroids.shape;
    if (count === 1) {
      return {
        positions: tf.zeros(values.shape, 'int32') as tf.Tensor2D,
        sortedCentroids: centroids.clone(),
        slotIndices: tf.zeros([channels, 1], 'int32') as tf.Tensor2D,
      };
    }

    // topk sorts along the last axis, so each row separately.
    const { values: negatedSorted, indices: order } = tf.topk(tf.neg(centroids), count, true);
    const sortedCentroids = tf.neg(negatedSorted) as tf.Tensor2D;
    const lower = tf.slice(sortedCentroids, [0, 0], [channels, count - 1]);
    const upper = tf.slice(sortedCentroids, [0, 1], [channels, count - 1]);
    const midpoints = tf.div(tf.add(lower, upper), 2);

    // searchSorted searches row c of the values in row c of the midpoints.
    const positions = tf.searchSorted(midpoints, values, 'left') as tf.Tensor2D;
    const firstEqual = tf.searchSorted(sortedCentroids, sortedCentroids, 'left');
    const slotIndices = tf.gather(order, firstEqual, 1, 1) as tf.Tensor2D;
    return { positions, sortedCentroids, slotIndices };
  });
}

/**
 * Returns, for each entry of `values` (channels × m), the int32 index of its nearest
 * centroid in the same row of `centroids` (channels × K), by the rules of
 * {@link assignGroupedClusters}.
 */
export function assignGroupedClustersOp(values: tf.Tensor2D, centroids: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const { positions, slotIndices } = assignGroupedClusters(values, centroids);
    return tf.gather(slotIndices, positions, 1, 1) as tf.Tensor2D;
  });
}

/** Returns segment ids that make entry (c, k) of a channels × K table segment c·K + k, flattened. */
function tableSegments(indices: tf.Tensor2D, channels: number, count: number): tf.Tensor1D {
  const rowOffsets = tf.mul(tf.range(0, channels, 1, 'int32'), tf.scalar(count, 'int32')).reshape([channels, 1]);
  return tf.reshape(tf.add(indices, rowOffsets), [-1]) as tf.Tensor1D;
}

function makeGroupedOp(aggregation: GradientAggregation) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [latent, centroids, mask, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    const [channels, count] = centroids.shape;
    // One gather over the weights, from the sorted centroids, as in clusteredWeight.
    const { positions, sortedCentroids, slotIndices } = assignGroupedClusters(latent, centroids);
    save([positions, slotIndices, mask]);
    const value = tf.tidy(() => tf.mul(tf.gather(sortedCentroids, positions, 1, 1), mask));
    sortedCentroids.dispose();

    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedPositions, savedSlotIndices, savedMask] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        // Masked weights are constant 0, so neither they nor a centroid learn from them.
        const maskedDy = tf.mul(dy, savedMask);
        // Sum per sorted position over the weights, then move each row's sums to the
        // input order of its centroids, over channels × K values.
        const positionSegments = tableSegments(savedPositions, channels, count);
        const slotSegments = tableSegments(savedSlotIndices, channels, count);
        const toInputOrder = (perPosition: tf.Tensor1D) => tf.unsortedSegmentSum(perPosition, slotSegments, channels * count);
        const sums = toInputOrder(tf.unsortedSegmentSum(tf.reshape(maskedDy, [-1]), positionSegments, channels * count));
        let centroidGradient = sums;
        if (aggregation === 'avg') {
          const members = toInputOrder(tf.unsortedSegmentSum(tf.reshape(savedMask, [-1]), positionSegments, channels * count));
          // An empty cluster has a zero sum, so dividing by 1 keeps its gradient 0.
          centroidGradient = tf.div(sums, tf.maximum(members, 1));
        }
        // The mask input is a constant, so its gradient is never used.
        return [maskedDy, tf.reshape(centroidGradient, [channels, count]), tf.zerosLike(savedMask)];
      },
    };
  });
}

const groupedOps: Record<GradientAggregation, ReturnType<typeof makeGroupedOp>> = {
  sum: makeGroupedOp('sum'),
  avg: makeGroupedOp('avg'),
};

/**
 * Returns `latent` (channels × m) with each weight replaced by its nearest centroid in its
 * row of `centroids` (channels × K) and multiplied by `mask` (1 keeps a weight, 0 pins it
 * at 0). The gradient reaches `latent` multiplied by the mask, and each centroid receives
 * the sum (`sum`) or the mean (`avg`) of its unmasked members' gradients. A centroid with
 * no unmasked members gets 0.
 */
export function groupedClusteredWeight(
  latent: tf.Tensor2D,
  centroids: tf.Tensor2D,
  mask: tf.Tensor2D,
  aggregation: GradientAggregation,
): tf.Tensor2D {
  return groupedOps[aggregation](latent, centroids, mask) as tf.Tensor2D;
}
