// The clustered weight as a differentiable op. The forward pass replaces each latent
// weight by its nearest centroid. The backward pass trains both the centroids and the
// latent weights, as TFMOT's clustering wrapper does when it sums the gradients of a
// cluster's members (it can also average them, which this op does not).
import * as tf from '@tensorflow/tfjs';
import { sortedAssignmentOp } from './assign-clusters.js';

const clusteredWeightOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [latent, centroids, save] = args as [tf.Tensor, tf.Tensor1D, tf.GradSaveFunc];
  const count = centroids.shape[0];
  // One pass over the weights: each looks up its position among the sorted centroids,
  // and the forward value is the sorted centroid there, which has the value of the
  // input centroid that the position maps to.
  const { positions, sortedCentroids, slotIndices } = sortedAssignmentOp(latent, centroids);
  save([positions, slotIndices]);
  const value = tf.gather(sortedCentroids, positions);
  sortedCentroids.dispose();

  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [savedPositions, savedSlotIndices] = saved as [tf.Tensor, tf.Tensor1D];
      // Straight-through to the latent weights, so assignments can change between steps.
      const latentGradient = tf.clone(dy);
      // Each centroid gets the sum of its members' upstream gradients: summed per sorted
      // position over the n weights first, then moved to the input order over N values.
      const positionGradient = tf.unsortedSegmentSum(tf.reshape(dy, [-1]), tf.reshape(savedPositions, [-1]), count);
      const centroidGradient = tf.unsortedSegmentSum(positionGradient, savedSlotIndices, count);
      return [latentGradient, centroidGradient];
    },
  };
});

/**
 * Returns the latent weights with each value replaced by its nearest centroid, shaped
 * like `latent`. The gradient reaches `latent` unchanged, and each centroid receives the
 * sum of its members' gradients.
 */
export function clusteredWeight(latent: tf.Tensor, centroids: tf.Tensor1D): tf.Tensor {
  return clusteredWeightOp(latent, centroids);
}
