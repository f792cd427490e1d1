// The clustered weight as a differentiable op. The forward pass replaces each latent
// weight by its nearest centroid. The backward pass trains both the centroids and the
// latent weights, as TFMOT's clustering wrapper does when it sums the gradients of a
// cluster's members (it can also average them, which this op does not).
import * as tf from '@tensorflow/tfjs';
import { assignClustersOp } from './assign-clusters.js';

const clusteredWeightOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [latent, centroids, save] = args as [tf.Tensor, tf.Tensor1D, tf.GradSaveFunc];
  const indices = assignClustersOp(latent, centroids);
  save([indices]);

  return {
    value: tf.gather(centroids, indices),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const savedIndices = saved[0] as tf.Tensor;
      // Straight-through to the latent weights, so assignments can change between steps.
      const latentGradient = tf.clone(dy);
      // Each centroid gets the sum of its members' upstream gradients.
      const centroidGradient = tf.unsortedSegmentSum(
        tf.reshape(dy, [-1]),
        tf.reshape(savedIndices, [-1]),
        centroids.shape[0],
      );
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
