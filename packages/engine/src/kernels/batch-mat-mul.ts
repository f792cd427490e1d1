import * as tf from '@tensorflow/tfjs';

import { asCpuBackend, readFloat32Values, requireInput } from './cpu-backend.js';
import type { CpuBackend } from './cpu-backend.js';
import { addMatMulTransposedB } from './gemm.js';

const KERNEL_NAME = tf.BatchMatMul;

/** Sizes of a batched matrix product C[i] = op(A[i])·op(B[i]), with op a transpose or the identity. */
export interface BatchMatMulShape {
  /** Number of matrices in A. C[i] uses A[i % batchA], so with batchA = 1 every C[i] uses the same A. */
  batchA: number;
  /** Number of matrices in B. C[i] uses B[i % batchB]. */
  batchB: number;
  /** Number of matrices in C, the larger of batchA and batchB. */
  batch: number;
  /** Rows of op(A) and C. */
  rows: number;
  /** Columns of op(B) and C. */
  cols: number;
  /** Columns of op(A), which equal the rows of op(B). */
  depth: number;
  transposeA: boolean;
  transposeB: boolean;
}

/** Copies the `rows`×`cols` row-major matrix at `offset` of `source` into `target` as its transpose. */
function transposeInto(source: Float32Array, offset: number, rows: number, cols: number, target: Float32Array): void {
  for (let row = 0; row < rows; row++) {
    const sourceRow = offset + row * cols;
    for (let col = 0; col < cols; col++) {
      target[col * rows + row] = source[sourceRow + col]!;
    }
  }
}

/**
 * Computes a batched matrix product with a blocked multiply (see addMatMulTransposedB).
 * op(A) must be read along rows and op(B) along columns, so A is copied transposed when
 * `transposeA` is set and B when it is not. Each copy is one matrix and is reused while the
 * batch index of its factor stays the same.
 */
export function computeBatchMatMul(a: Float32Array, b: Float32Array, shape: BatchMatMulShape): Float32Array {
  const { batchA, batchB, batch, rows, cols, depth, transposeA, transposeB } = shape;
  const aSize = rows * depth;
  const bSize = depth * cols;
  const cSize = rows * cols;
  const c = new Float32Array(batch * cSize);

  const aCopy = new Float32Array(transposeA ? aSize : 0);
  const bCopy = new Float32Array(transposeB ? 0 : bSize);
  let aCopyIndex = -1;
  let bCopyIndex = -1;

  for (let matrix = 0; matrix < batch; matrix++) {
    const aIndex = matrix % batchA;
    const bIndex = matrix % batchB;

    let aRows: Float32Array;
    if (transposeA) {
      if (aCopyIndex !== aIndex) {
        transposeInto(a, aIndex * aSize, depth, rows, aCopy);
        aCopyIndex = aIndex;
      }
      aRows = aCopy;
    } else {
      aRows = a.subarray(aIndex * aSize, (aIndex + 1) * aSize);
    }

    let bColumns: Float32Array;
    if (transposeB) {
      bColumns = b.subarray(bIndex * bSize, (bIndex + 1) * bSize);
    } else {
      if (bCopyIndex !== bIndex) {
        transposeInto(b, bIndex * bSize, depth, cols, bCopy);
        bCopyIndex = bIndex;
      }
      bColumns = bCopy;
    }

    addMatMulTransposedB(aRows, bColumns, c.subarray(matrix * cSize, (matrix + 1) * cSize), rows, cols, depth);
  }
  return c;
}

/** Output of a batched matrix product on the cpu backend, before it becomes a tensor. */
export interface MatMulResult {
  shape: number[];
  values: Float32Array;
}

/**
 * Multiplies the tensors `a` and `b` with computeBatchMatMul, with shapes, broadcasting of the
 * batch dimensions and errors as in BatchMatMul of @tensorflow/tfjs-backend-cpu 4.22.0. Returns
 * null when the original kernel should run instead: for inputs that are not both float32 (the
 * original returns the dtype of `a`), of rank below 2, or with empty or unsupported batches.
 */
export function multiplyOnCpu(
  backend: CpuBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  kernelName: string,
): MatMulResult | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) {
    return null;
  }

  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const depthA = transposeA ? a.shape[aRank - 2]! : a.shape[aRank - 1]!;
  const depthB = transposeB ? b.shape[bRank - 1]! : b.shape[bRank - 2]!;
  const rows = transposeA ? a.shape[aRank - 1]! : a.shape[aRank - 2]!;
  const cols = transposeB ? b.shape[bRank - 2]! : b.shape[bRank - 1]!;
  if (depthA !== depthB) {
    throw new Error(
      `${kernelName}: inner dimensions ${depthA} and ${depthB} of shapes [${a.shape.join(', ')}] and ` +
        `[${b.shape.join(', ')}] with transposeA=${transposeA} and transposeB=${transposeB} do not match.`,
    );
  }

  const outerShapeA = a.shape.slice(0, -2);
  const outerShapeB = b.shape.slice(0, -2);
  const outerShape = tf.broadcast_util.assertAndGetBroadcastShape(outerShapeA, outerShapeB);
  const batchA = tf.util.sizeFromShape(outerShapeA);
  const batchB = tf.util.sizeFromShape(outerShapeB);
  const batch = Math.max(batchA, batchB);
  // The batch index arithmetic of computeBatchMatMul (and of the original) covers broadcasting
  // where one flattened batch repeats cyclically, such as [2, 3] with [3] or [1]. Other
  // broadcasts and empty batches stay with the original.
  if (batchA === 0 || batchB === 0 || tf.util.sizeFromShape(outerShape) !== batch) {
    return null;
  }

  const values = computeBatchMatMul(readFloat32Values(backend, a, kernelName), readFloat32Values(backend, b, kernelName), {
    batchA,
    batchB,
    batch,
    rows,
    cols,
    depth: depthA,
    transposeA,
    transposeB,
  });
  return { shape: [...outerShape, rows, cols], values };
}

/**
 * Creates BatchMatMul for the tfjs `cpu` backend, with the register-blocked multiply of gemm.ts
 * in place of the cache-blocked loop of @tensorflow/tfjs-backend-cpu 4.22.0. Cases that
 * multiplyOnCpu does not cover go to `original`.
 */
export function createBatchMatMulKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const backend = asCpuBackend(args.backend, KERNEL_NAME);
    const a = requireInput(args.inputs, 'a', KERNEL_NAME);
    const b = requireInput(args.inputs, 'b', KERNEL_NAME);
    const { transposeA = false, transposeB = false } = (args.attrs ?? {}) as Partial<tf.BatchMatMulAttrs>;

    const result = multiplyOnCpu(backend, a, b, transposeA, transposeB, KERNEL_NAME);
    if (result === null) {
      return original(args);
    }
    return backend.makeTensorInfo(result.shape, 'float32', result.values);
  };
}
