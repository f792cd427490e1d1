// The clustered weight for per-channel clustering, preserve_sparsity and the AVG gradient
// aggregation. The weight is viewed as a channels × m matrix whose row c contains the m
// weights of channel c, with one row when clustering per tensor. The centroids form a
// channels × K matrix, so each row is assigned to its own centroids.
import * as tf from '@tensorflow/tfjs';
import type { GradientAggregation } from '@centroid/contracts';

/**
 * Returns, for each entry of `values` (channels × m), the index of its nearest centroid
 * in the same row of `centroids` (channels × K), as int32. Sorts each row of centroids
 * and searches the midpoints between neighbours, so it needs no channels × m × K
 * distance tensor. Follows the tie rules of `assignClustersOp`: a value on a midpoint
 * goes to the smaller centroid, and among equal centroids to the lowest index.
 */
export function assignGroupedClustersOp(values: tf.Tensor2D, centroids: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [channels, count] = centroids.shape;
    if (count === 1) {
      return tf.zeros(values.shape, 'int32') as tf.Tensor2D;
    }

    // topk sorts along the last axis, so each row separately.
    const { values: negatedSorted, indices: order } = tf.topk(tf.neg(centroids), count, true);
    const sorted = tf.neg(negatedSorted) as tf.Tensor2D;
    const lower = tf.slice(sorted, [0, 0], [channels, count - 1]);
    const upper = tf.slice(sorted, [0, 1], [channels, count - 1]);
    const midpoints = tf.div(tf.add(lower, upper), 2);

    // searchSorted searches row c of the values in row c of the midpoints.
    const sortedPositions = tf.searchSorted(midpoints, values, 'left');
    const firstEqual = tf.searchSorted(sorted, sorted, 'left');
    return tf.gather(order, tf.gather(firstEqual, sortedPositions, 1, 1), 1, 1) as tf.Tensor2D;
  });
}

function makeGroupedOp(aggregation: GradientAggregation) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [latent, centroids, mask, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    const [channels, count] = centroids.shape;
    const indices = assignGroupedClustersOp(latent, centroids);
    save([indices, mask]);

    return {
      value: tf.mul(tf.gather(centroids, indices, 1, 1), mask),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedIndices, savedMask] = saved as [tf.Tensor2D, tf.Tensor2D];
        // Masked weights are constant 0, so neither they nor a centroid learn from them.
        const maskedDy = tf.mul(dy, savedMask);
        // Row c's centroid k is segment c·K + k of the flattened matrix.
        const rowOffsets = tf.mul(tf.range(0, channels, 1, 'int32'), tf.scalar(count, 'int32')).reshape([channels, 1]);
        const segments = tf.reshape(tf.add(savedIndices, rowOffsets), [-1]) as tf.Tensor1D;
        const sums = tf.unsortedSegmentSum(tf.reshape(maskedDy, [-1]), segments, channels * count);
        let centroidGradient = sums;
        if (aggregation === 'avg') {
          const members = tf.unsortedSegmentSum(tf.reshape(savedMask, [-1]), segments, channels * count);
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
