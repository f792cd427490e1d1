import * as tf from '@tensorflow/tfjs';

import {
  DEFAULT_MAX_TEMP_ELEMENTS,
  chunkPositionCount,
  computeConvInfo,
  outputPositionCount,
  patchLength,
  scatterOutputRows,
  toConvGeometry,
  writePatches,
} from './conv-geometry.js';
import type { ConvAttrs, ConvGeometry } from './conv-geometry.js';
import { asCpuBackend, readFloat32Values, requireInput } from './cpu-backend.js';
import { addMatMulTransposedB } from './gemm.js';

const KERNEL_NAME = tf.Conv2D;

/**
 * Computes the 2-D convolution y of input x with a filter of shape
 * [filterHeight, filterWidth, inChannels, outChannels], as y = P·W with the input patches P (one
 * row per output position, see writePatches) and the filter W as a [patchLength, outChannels]
 * matrix. Output positions are processed in chunks so that the temporary patch matrix (and for
 * NCHW the output rows) of one chunk hold at most `maxTempElements` elements.
 */
export function computeConv2D(
  x: Float32Array,
  filter: Float32Array,
  geometry: ConvGeometry,
  maxTempElements: number = DEFAULT_MAX_TEMP_ELEMENTS,
): Float32Array {
  const features = patchLength(geometry);
  const outChannels = geometry.outChannels;
  const positionCount = outputPositionCount(geometry);
  const y = new Float32Array(positionCount * outChannels);

  const filterTransposed = new Float32Array(outChannels * features);
  for (let feature = 0; feature < features; feature++) {
    for (let channel = 0; channel < outChannels; channel++) {
      filterTransposed[channel * features + feature] = filter[feature * outChannels + channel]!;
    }
  }

  // In NHWC the rows of P·W are the output's own memory layout, so the product is added to y
  // in place. In NCHW it goes through a temporary row buffer.
  const rowElements = geometry.channelsLast ? 0 : outChannels;
  const chunkSize = chunkPositionCount(features + rowElements, positionCount, maxTempElements);
  const patches = new Float32Array(chunkSize * features);
  const rows = new Float32Array(chunkSize * rowElements);

  for (let start = 0; start < positionCount; start += chunkSize) {
    const count = Math.min(chunkSize, positionCount - start);
    writePatches(x, geometry, start, count, patches, features, 1);
    if (geometry.channelsLast) {
      const yRows = y.subarray(start * outChannels, (start + count) * outChannels);
      addMatMulTransposedB(patches, filterTransposed, yRows, count, outChannels, features);
    } else {
      rows.fill(0, 0, count * outChannels);
      addMatMulTransposedB(patches, filterTransposed, rows, count, outChannels, features);
      scatterOutputRows(rows, geometry, start, count, y);
    }
  }
  return y;
}

/**
 * Creates Conv2D for the tfjs `cpu` backend, with im2col and a blocked matrix multiply in place
 * of the direct loop of @tensorflow/tfjs-backend-cpu 4.22.0. Supports NHWC and NCHW, strides,
 * dilations and all padding modes. Inputs that are not float32 go to `original`, because the
 * original kernel returns them in the input's dtype.
 */
export function createConv2DKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const backend = asCpuBackend(args.backend, KERNEL_NAME);
    const x = requireInput(args.inputs, 'x', KERNEL_NAME);
    const filter = requireInput(args.inputs, 'filter', KERNEL_NAME);
    if (x.dtype !== 'float32') {
      return original(args);
    }
    const attrs = args.attrs as unknown as ConvAttrs;

    const info = computeConvInfo(x.shape, filter.shape, attrs, KERNEL_NAME);
    const values = computeConv2D(
      readFloat32Values(backend, x, KERNEL_NAME),
      readFloat32Values(backend, filter, KERNEL_NAME),
      toConvGeometry(info),
    );
    return backend.makeTensorInfo(info.outShape, 'float32', values);
  };
}
