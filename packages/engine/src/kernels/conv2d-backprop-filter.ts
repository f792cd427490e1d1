import * as tf from '@tensorflow/tfjs';

import {
  DEFAULT_MAX_TEMP_ELEMENTS,
  chunkPositionCount,
  computeConvInfo,
  gatherOutputRows,
  outputPositionCount,
  patchLength,
  toConvGeometry,
  writePatches,
} from './conv-geometry.js';
import type { ConvAttrs, ConvGeometry } from './conv-geometry.js';
import { asCpuBackend, assertShape, readFloat32Values, requireInput } from './cpu-backend.js';
import { addMatMulTransposedB } from './gemm.js';

const KERNEL_NAME = tf.Conv2DBackpropFilter;

/**
 * Computes the filter gradient dW[filterRow, filterColumn, inChannel, outChannel] of a 2-D
 * convolution from its input x and output gradient dy.
 *
 * With the input patches as a matrix P (one row per output position, see writePatches) and dy as a
 * matrix D (one row per output position), dW = Pᵀ·D. Output positions are processed in chunks so
 * that the transposed patch and dy matrices of one chunk hold at most `maxTempElements` elements.
 */
export function computeConv2DFilterGradient(
  x: Float32Array,
  dy: Float32Array,
  geometry: ConvGeometry,
  maxTempElements: number = DEFAULT_MAX_TEMP_ELEMENTS,
): Float32Array {
  const features = patchLength(geometry);
  const outChannels = geometry.outChannels;
  const positionCount = outputPositionCount(geometry);
  const dw = new Float32Array(features * outChannels);

  const chunkSize = chunkPositionCount(features + outChannels, positionCount, maxTempElements);
  const patchesTransposed = new Float32Array(features * chunkSize);
  const dyTransposed = new Float32Array(outChannels * chunkSize);

  for (let start = 0; start < positionCount; start += chunkSize) {
    const count = Math.min(chunkSize, positionCount - start);
    // Both matrices are written transposed with rows of length `count`, so the product reads
    // every row contiguously.
    writePatches(x, geometry, start, count, patchesTransposed, 1, count);
    gatherOutputRows(dy, geometry, start, count, dyTransposed, 1, count);
    addMatMulTransposedB(patchesTransposed, dyTransposed, dw, features, outChannels, count);
  }

  return dw;
}

/**
 * Conv2DBackpropFilter for the tfjs `cpu` backend, with im2col and a blocked matrix multiply in
 * place of the per-element loop of @tensorflow/tfjs-backend-cpu 4.22.0. Supports NHWC and NCHW,
 * strides, dilations (see ConvAttrs) and 'valid', 'same', numeric and explicit padding.
 */
export function conv2DBackpropFilter(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const backend = asCpuBackend(args.backend, KERNEL_NAME);
  const x = requireInput(args.inputs, 'x', KERNEL_NAME);
  const dy = requireInput(args.inputs, 'dy', KERNEL_NAME);
  const attrs = args.attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };

  const info = computeConvInfo(x.shape, attrs.filterShape, attrs, KERNEL_NAME);
  assertShape(dy, info.outShape, 'dy', KERNEL_NAME);

  const values = computeConv2DFilterGradient(
    readFloat32Values(backend, x, KERNEL_NAME),
    readFloat32Values(backend, dy, KERNEL_NAME),
    toConvGeometry(info),
  );
  return backend.makeTensorInfo(info.filterShape, 'float32', values);
}
