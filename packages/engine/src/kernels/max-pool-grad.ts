import * as tf from '@tensorflow/tfjs';

import { asCpuBackend, assertShape, readFloat32Values, requireInput } from './cpu-backend.js';

const KERNEL_NAME = tf.MaxPoolGrad;

/**
 * Computes the input gradient of a 2-D max pool over an NHWC input x: each window's output
 * gradient goes to the window's maximum.
 *
 * Ties and NaN follow @tensorflow/tfjs-backend-cpu 4.22.0: the maximum is the first value in
 * row-major window order that is strictly greater than all before it, so a window of only NaN
 * (or only padding) passes no gradient. Gradients of overlapping windows are summed.
 */
export function computeMaxPoolInputGradient(
  dy: Float32Array,
  x: Float32Array,
  info: tf.backend_util.Conv2DInfo,
): Float32Array {
  const { batchSize, inHeight, inWidth, inChannels: channels, strideHeight, strideWidth } = info;
  const { dilationHeight, dilationWidth, effectiveFilterHeight, effectiveFilterWidth } = info;
  const outHeight = Math.max(0, info.outHeight);
  const outWidth = Math.max(0, info.outWidth);
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;

  const dx = new Float32Array(x.length);
  const maxValues = new Float64Array(channels);
  const maxIndices = new Int32Array(channels);

  for (let batch = 0; batch < batchSize; batch++) {
    const xBatchOffset = batch * inHeight * inWidth * channels;
    for (let outRow = 0; outRow < outHeight; outRow++) {
      const rowOrigin = outRow * strideHeight - padTop;
      // The first input row of the window that is not padding, on the dilation grid.
      let rowStart = rowOrigin;
      while (rowStart < 0) {
        rowStart += dilationHeight;
      }
      const rowEnd = Math.min(inHeight, rowOrigin + effectiveFilterHeight);

      for (let outColumn = 0; outColumn < outWidth; outColumn++) {
        const columnOrigin = outColumn * strideWidth - padLeft;
        let columnStart = columnOrigin;
        while (columnStart < 0) {
          columnStart += dilationWidth;
        }
        const columnEnd = Math.min(inWidth, columnOrigin + effectiveFilterWidth);

        // Scan the window pixel by pixel with all channels innermost, which reads x in memory order.
        maxValues.fill(Number.NEGATIVE_INFINITY);
        maxIndices.fill(-1);
        for (let inRow = rowStart; inRow < rowEnd; inRow += dilationHeight) {
          for (let inColumn = columnStart; inColumn < columnEnd; inColumn += dilationWidth) {
            const pixelOffset = xBatchOffset + (inRow * inWidth + inColumn) * channels;
            for (let channel = 0; channel < channels; channel++) {
              const value = x[pixelOffset + channel]!;
              if (value > maxValues[channel]!) {
                maxValues[channel] = value;
                maxIndices[channel] = pixelOffset + channel;
              }
            }
          }
        }

        const dyOffset = ((batch * outHeight + outRow) * outWidth + outColumn) * channels;
        for (let channel = 0; channel < channels; channel++) {
          const maxIndex = maxIndices[channel]!;
          if (maxIndex >= 0) {
            dx[maxIndex] = dx[maxIndex]! + dy[dyOffset + channel]!;
          }
        }
      }
    }
  }
  return dx;
}

/**
 * Creates MaxPoolGrad for the tfjs `cpu` backend. It scatters each window's gradient to the
 * window's maximum in one pass, in place of the per-pixel search over all windows of
 * @tensorflow/tfjs-backend-cpu 4.22.0. Like the original it reads `input` and ignores `output`.
 * Inputs that are not float32 go to `original`, so that int32 values above 2^24 are compared exactly.
 */
export function createMaxPoolGradKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const backend = asCpuBackend(args.backend, KERNEL_NAME);
    const dy = requireInput(args.inputs, 'dy', KERNEL_NAME);
    const x = requireInput(args.inputs, 'input', KERNEL_NAME);
    if (x.dtype !== 'float32') {
      return original(args);
    }
    const attrs = args.attrs as unknown as tf.MaxPoolGradAttrs;
    if (x.shape.length !== 4) {
      throw new Error(`${KERNEL_NAME}: expected a rank 4 NHWC input, got shape [${x.shape.join(', ')}].`);
    }

    const info = tf.backend_util.computePool2DInfo(
      x.shape as [number, number, number, number],
      attrs.filterSize,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    assertShape(dy, info.outShape, 'dy', KERNEL_NAME);

    const values = computeMaxPoolInputGradient(
      readFloat32Values(backend, dy, KERNEL_NAME),
      readFloat32Values(backend, x, KERNEL_NAME),
      info,
    );
    return backend.makeTensorInfo(x.shape, 'float32', values);
  };
}
