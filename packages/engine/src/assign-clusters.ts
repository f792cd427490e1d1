// Nearest-centroid assignment in one dimension, without an n×N distance matrix. With the
// centroids sorted, the midpoints between neighbours split the line into one interval
// per centroid, and a binary search over the midpoints finds a value's interval.
//
// Both versions below follow the same tie rules. A value exactly at the midpoint of two
// neighbouring centroids goes to the smaller one. Among equal centroids, values go to
// the one with the lowest index, so the other copies stay empty. For sorted centroids
// this equals brute-force argmin_j |v − c_j| with the lowest index winning ties.
import * as tf from '@tensorflow/tfjs';

/**
 * Returns, for each value, the index of its nearest centroid in `sortedCentroids`,
 * which must be sorted ascending (equal neighbours allowed).
 *
 * Midpoints are computed in float64, where (a + b) / 2 of two float32 values is exact
 * unless their magnitudes differ by more than a factor of about 2^29, so ties are
 * decided exactly for any realistic weights. Runs in O(n log N) time. Raises RangeError
 * for unsorted or empty centroids and for NaN values.
 */
export function assignClusters(values: Float32Array, sortedCentroids: Float32Array): Int32Array {
  const count = sortedCentroids.length;
  if (count === 0) {
    throw new RangeError('cannot assign values to an empty list of centroids');
  }
  for (let k = 1; k < count; k++) {
    if (!((sortedCentroids[k] as number) >= (sortedCentroids[k - 1] as number))) {
      throw new RangeError(
        `centroids must be sorted ascending and not NaN, but centroid ${k} is ${sortedCentroids[k]} after ${sortedCentroids[k - 1]}`,
      );
    }
  }

  const midpoints = new Float64Array(count - 1);
  for (let k = 0; k < count - 1; k++) {
    midpoints[k] = ((sortedCentroids[k] as number) + (sortedCentroids[k + 1] as number)) / 2;
  }
  const firstEqual = new Int32Array(count);
  for (let k = 1; k < count; k++) {
    firstEqual[k] = sortedCentroids[k] === sortedCentroids[k - 1] ? (firstEqual[k - 1] as number) : k;
  }

  const assignment = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as number;
    if (Number.isNaN(value)) {
      throw new RangeError(`value at flat index ${i} is NaN and has no nearest centroid`);
    }
    // Count the midpoints strictly below the value, so a value on a midpoint stays low.
    let low = 0;
    let high = count - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((midpoints[middle] as number) < value) low = middle + 1;
      else high = middle;
    }
    assignment[i] = firstEqual[low] as number;
  }
  return assignment;
}

/**
 * The nearest-centroid assignment in terms of the centroids sorted ascending. Value i is
 * nearest to sorted centroid `positions[i]`, which equals centroid
 * `slotIndices[positions[i]]` of the input order.
 */
export interface SortedAssignment {
  /** int32, shaped like the values: each value's position among the sorted centroids. */
  positions: tf.Tensor;
  /** The centroids sorted ascending, N values. */
  sortedCentroids: tf.Tensor1D;
  /** int32, N values: the input index of the centroid at each sorted position. */
  slotIndices: tf.Tensor1D;
}

/**
 * Assigns each value to its nearest centroid as a tensor op and returns the assignment
 * in sorted order (see {@link SortedAssignment}). `centroids` may be in any order.
 * Follows the tie rules of {@link assignClusters}, except that midpoints are float32
 * here, so a value within float32 rounding of a midpoint may go to either neighbour.
 * Equal centroids share one sorted position's slot index, the lowest input index.
 */
export function sortedAssignmentOp(values: tf.Tensor, centroids: tf.Tensor1D): SortedAssignment {
  return tf.tidy(() => {
    const count = centroids.shape[0];
    if (count === 1) {
      return { positions: tf.zeros(values.shape, 'int32'), sortedCentroids: centroids.clone(), slotIndices: tf.zeros([1], 'int32') as tf.Tensor1D };
    }

    // topk on the negated centroids sorts them ascending, and it lists equal values
    // lowest index first, which the tie rule for equal centroids relies on.
    const { values: negatedSorted, indices: order } = tf.topk(tf.neg(centroids), count, true);
    const sortedCentroids = tf.neg(negatedSorted) as tf.Tensor1D;
    const midpoints = tf.div(tf.add(sortedCentroids.slice(0, count - 1), sortedCentroids.slice(1)), 2);

    // 'left' counts the midpoints strictly below each value. searchSorted returns a
    // leading batch axis for 1-D input, hence the reshapes.
    const positions = tf.reshape(tf.searchSorted(midpoints, tf.reshape(values, [-1]), 'left'), values.shape);
    // For each sorted position, the first position containing an equal centroid, and the
    // input index of that centroid.
    const firstEqual = tf.reshape(tf.searchSorted(sortedCentroids, sortedCentroids, 'left'), [-1]);
    const slotIndices = tf.gather(order, firstEqual) as tf.Tensor1D;
    return { positions, sortedCentroids, slotIndices };
  });
}

/**
 * Returns the int32 index of each value's nearest centroid as a tensor op, shaped like
 * `values`. `centroids` may be in any order, and the indices refer to that order. Follows
 * the tie rules of {@link sortedAssignmentOp}.
 */
export function assignClustersOp(values: tf.Tensor, centroids: tf.Tensor1D): tf.Tensor {
  return tf.tidy(() => {
    const { positions, slotIndices } = sortedAssignmentOp(values, centroids);
    return tf.gather(slotIndices, positions);
  });
}
