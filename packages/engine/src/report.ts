// Measurements for the per-layer report.

/**
 * Returns the number of distinct float32 bit patterns in `values`, which is the
 * repetition a compressor can exploit. So -0 and +0 count as two, and so do NaNs with
 * different payloads. Sorts a 32-bit copy in O(n log n) time with 4 bytes per value.
 */
export function countDistinct(values: Float32Array): number {
  if (values.length === 0) return 0;
  // Copy the raw bits, because a round trip through JS numbers could change NaN payloads.
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length).slice().sort();
  let distinct = 1;
  for (let i = 1; i < bits.length; i++) {
    if (bits[i] !== bits[i - 1]) distinct++;
  }
  return distinct;
}
