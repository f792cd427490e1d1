import * as tf from '@tensorflow/tfjs';

import { asCpuBackend, readFloat32Values, requireInput } from './cpu-backend.js';

const KERNEL_NAME = tf.Sum;

/**
 * Sums a row-major [outerSize, innerSize] matrix over its rows, returning innerSize sums.
 * Each sum is accumulated in float64 in row order and rounded once to float32.
 */
export function sumLeadingAxes(x: Float32Array, outerSize: number, innerSize: number): Float32Array {
  const sums = new Float64Array(innerSize);
  for (let row = 0; row < outerSize; row++) {
    const offset = row * innerSize;
    for (let column = 0; column < innerSize; column++) {
      sums[column] = sums[column]! + x[offset + column]!;
    }
  }
  return Float32Array.from(sums);
}

/**
 * Creates Sum for the tfjs `cpu` backend with a fast path for float32 sums over leading axes,
 * such as the bias gradients of convolution and dense layers (axes 0, 1, 2 of NHWC, or axis 0).
 * For those the original in @tensorflow/tfjs-backend-cpu 4.22.0 first transposes the whole input
 * to make the summed axes innermost. The fast path reads the input in memory order without the
 * transpose. Every other case goes to `original`, which needs no transpose when the summed axes are
 * already innermost.
 */
export function createSumKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const backend = asCpuBackend(args.backend, KERNEL_NAME);
    const x = requireInput(args.inputs, 'x', KERNEL_NAME);
    if (x.dtype !== 'float32') {
      return original(args);
    }
    const { axis, keepDims = false } = args.attrs as unknown as tf.SumAttrs;

    const rank = x.shape.length;
    const axes = [...tf.util.parseAxisParam(axis, x.shape)].sort((first, second) => first - second);
    const leading = axes.length > 0 && axes.length < rank && axes.every((value, index) => value === index);
    if (!leading) {
      return original(args);
    }

    const outerSize = tf.util.sizeFromShape(x.shape.slice(0, axes.length));
    const keptShape = x.shape.slice(axes.length);
    const values = sumLeadingAxes(readFloat32Values(backend, x, KERNEL_NAME), outerSize, tf.util.sizeFromShape(keptShape));
    const outShape = keepDims ? [...axes.map(() => 1), ...keptShape] : keptShape;
    return backend.makeTensorInfo(outShape, 'float32', values);
  };
}
