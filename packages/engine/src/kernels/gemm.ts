/**
 * Adds the matrix product A·Bᵀ to C.
 *
 * A is `rows`×`depth`, B is `cols`×`depth` and C is `rows`×`cols`, all dense and row-major,
 * so both factors are read along contiguous rows. The loop computes 4×4 blocks of C with 16
 * local accumulators, which loads 8 values per 16 multiply-adds. Each dot product over `depth`
 * is accumulated in float64 (JavaScript numbers) and rounded once when added to C.
 */
export function addMatMulTransposedB(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  rows: number,
  cols: number,
  depth: number,
): void {
  const blockRows = rows - (rows % 4);
  const blockCols = cols - (cols % 4);

  for (let i = 0; i < blockRows; i += 4) {
    const a0 = i * depth;
    const a1 = a0 + depth;
    const a2 = a1 + depth;
    const a3 = a2 + depth;
    for (let j = 0; j < blockCols; j += 4) {
      const b0 = j * depth;
      const b1 = b0 + depth;
      const b2 = b1 + depth;
      const b3 = b2 + depth;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let p = 0; p < depth; p++) {
        const x0 = a[a0 + p]!;
        const x1 = a[a1 + p]!;
        const x2 = a[a2 + p]!;
        const x3 = a[a3 + p]!;
        const y0 = b[b0 + p]!;
        const y1 = b[b1 + p]!;
        const y2 = b[b2 + p]!;
        const y3 = b[b3 + p]!;
        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
        c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
        c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
      }
      let out = i * cols + j;
      c[out] = c[out]! + c00;
      c[out + 1] = c[out + 1]! + c01;
      c[out + 2] = c[out + 2]! + c02;
      c[out + 3] = c[out + 3]! + c03;
      out += cols;
      c[out] = c[out]! + c10;
      c[out + 1] = c[out + 1]! + c11;
      c[out + 2] = c[out + 2]! + c12;
      c[out + 3] = c[out + 3]! + c13;
      out += cols;
      c[out] = c[out]! + c20;
      c[out + 1] = c[out + 1]! + c21;
      c[out + 2] = c[out + 2]! + c22;
      c[out + 3] = c[out + 3]! + c23;
      out += cols;
      c[out] = c[out]! + c30;
      c[out + 1] = c[out + 1]! + c31;
      c[out + 2] = c[out + 2]! + c32;
      c[out + 3] = c[out + 3]! + c33;
    }
  }

  // The last rows % 4 rows and cols % 4 columns, one dot product at a time.
  for (let i = 0; i < rows; i++) {
    const jStart = i < blockRows ? blockCols : 0;
    const aRow = i * depth;
    for (let j = jStart; j < cols; j++) {
      const bRow = j * depth;
      let sum = 0;
      for (let p = 0; p < depth; p++) {
        sum += a[aRow + p]! * b[bRow + p]!;
      }
      c[i * cols + j] = c[i * cols + j]! + sum;
    }
  }
}
