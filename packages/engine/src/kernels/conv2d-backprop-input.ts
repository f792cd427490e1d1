import * as tf from '@tensorflow/tfjs';

import {
  DEFAULT_MAX_TEMP_ELEMENTS,
  addPatchesToImage,
  chunkPositionCount,
  computeConvInfo,
  gatherOutputRows,
  outputPositionCount,
  patchLength,
  toConvGeometry,
} from './conv-geometry.js';
import type { ConvAttrs, ConvGeometry } from './conv-geometry.js';
import { asCpuBackend, assertShape, readFloat32Values, requireInput } from './cpu-backend.js';
import { addMatMulTransposedB } from './gemm.js';

const KERNEL_NAME = tf.Conv2DBackpropInput;

/**
 * Computes the input gradient dx of a 2-D convolution from its output gradient dy and filter.
 *
 * The gradients of the input patches are G = D·Wᵀ, with dy as a matrix D (one row per output
 * position) and the filter W as a [patchLength, outChannels] matrix. Each row of G is then added
 * back to the input pixels its patch was read from (col2im). Output positions are processed in
 * chunks so that the temporary G (and for NCHW the dy rows) of one chunk hold at most
 * `maxTempElements` elements.
 */
export function computeConv2DInputGradient(
  dy: Float32Array,
  filter: Float32Array,
  geometry: ConvGeometry,
  maxTempElements: number = DEFAULT_MAX_TEMP_ELEMENTS,
): Float32Array {
  const features = patchLength(geometry);
  const outChannels = geometry.outChannels;
  const positionCount = outputPositionCount(geometry);
  const dx = new Float32Array(geometry.batchSize * geometry.inHeight * geometry.inWidth * geometry.inChannels);

  // In NHWC the rows of D are dy's own memory layout and are read in place. In NCHW they are
  // gathered into a temporary buffer first.
  const rowElements = geometry.channelsLast ? 0 : outChannels;
  const chunkSize = chunkPositionCount(features + rowElements, positionCount, maxTempElements);
  const patchGradients = new Float32Array(chunkSize * features);
  const dyRows = new Float32Array(chunkSize * rowElements);

  for (let start = 0; start < positionCount; start += chunkSize) {
    const count = Math.min(chunkSize, positionCount - start);
    let rows: Float32Array;
    if (geometry.channelsLast) {
      rows = dy.subarray(start * outChannels, (start + count) * outChannels);
    } else {
      gatherOutputRows(dy, geometry, start, count, dyRows, outChannels, 1);
      rows = dyRows;
    }
    patchGradients.fill(0, 0, count * features);
    addMatMulTransposedB(rows, filter, patchGradients, count, features, outChannels);
    addPatchesToImage(patchGradients, geometry, start, count, dx);
  }
  return dx;
}

/**
 * Conv2DBackpropInput for the tfjs `cpu` backend, with a blocked matrix multiply and col2im in
 * place of the per-pixel loop of @tensorflow/tfjs-backend-cpu 4.22.0. Supports NHWC and NCHW,
 * strides, dilations (see ConvAttrs) and all padding modes.
 */
export function conv2DBackpropInput(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const backend = asCpuBackend(args.backend, KERNEL_NAME);
  const dy = requireInput(args.inputs, 'dy', KERNEL_NAME);
  const filter = requireInput(args.inputs, 'filter', KERNEL_NAME);
  const attrs = args.attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };

  const info = computeConvInfo(attrs.inputShape, filter.shape, attrs, KERNEL_NAME);
  assertShape(dy, info.outShape, 'dy', KERNEL_NAME);

  const values = computeConv2DInputGradient(
    readFloat32Values(backend, dy, KERNEL_NAME),
    readFloat32Values(backend, filter, KERNEL_NAME),
    toConvGeometry(info),
  );
  return backend.makeTensorInfo(info.inShape, 'float32', values);
}
