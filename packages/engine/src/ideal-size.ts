// The entropy floor of a clustered tensor's size. A clustered tensor is an index per
// weight plus a table of N float32 centroids. A lossless coder that treats the indices
// as independent needs at least H bits per index, where H is the entropy of the index
// distribution, so the tensor needs at least n·H/8 + 4·N bytes.

/**
 * Returns the Shannon entropy, in bits per value, of the distribution of distinct
 * float32 bit patterns in `values` (0 for an empty tensor). For the shipped values of a
 * clustered tensor this is the entropy of its final assignment, because each cluster
 * contributes one value. Sorts a 32-bit copy, O(n log n).
 */
export function entropyBits(values: Float32Array): number {
  if (values.length === 0) return 0;
  return totalInformationBits(values) / values.length;
}

/**
 * Returns the ideal size in bytes of one weight tensor, rounded up: n·H/8 + 4·N for a
 * clustered tensor with `numberOfClusters` = N, and 4·n (plain float32) when
 * `numberOfClusters` is null because the tensor was not clustered.
 */
export function idealBytes(values: Float32Array, numberOfClusters: number | null): number {
  if (numberOfClusters === null) return 4 * values.length;
  return Math.ceil(totalInformationBits(values) / 8) + 4 * numberOfClusters;
}

/**
 * Returns n·H in bits, computed as n·log2(n) − Σ c·log2(c) over the counts c of the
 * distinct values. This form is exact when every count is a power of two, so rounding
 * up does not add a byte for a sum that is whole.
 */
function totalInformationBits(values: Float32Array): number {
  const n = values.length;
  if (n === 0) return 0;
  // Sort the raw bits, so that the distinct values are the same ones `countDistinct` counts.
  const bits = new Uint32Array(values.buffer, values.byteOffset, n).slice().sort();

  let sumOfCountLogs = 0;
  let runStart = 0;
  for (let i = 1; i <= n; i++) {
    if (i === n || bits[i] !== bits[i - 1]) {
      const count = i - runStart;
      sumOfCountLogs += count * Math.log2(count);
      runStart = i;
    }
  }
  return Math.max(0, n * Math.log2(n) - sumOfCountLogs);
}
