import * as tf from '@tensorflow/tfjs';

import { computeConvInfo, toConvGeometry } from './conv-geometry.js';
import type { ConvAttrs } from './conv-geometry.js';
import { computeConv2D } from './conv2d.js';
import { asCpuBackend, readFloat32Values, requireInput } from './cpu-backend.js';
import { applyEpilogue, parseEpilogue } from './fused-epilogue.js';

const KERNEL_NAME = tf.FusedConv2D;

/**
 * Creates FusedConv2D for the tfjs `cpu` backend: the fast convolution of Conv2D, then bias and
 * activation in place. In tfjs 4.22.0, tf.layers.conv2d runs this kernel in predict and evaluate,
 * and also in training when its activation is linear. Cases that the fast path does not cover,
 * such as prelu or non-float32 input, go to `original`.
 */
export function createFusedConv2DKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const backend = asCpuBackend(args.backend, KERNEL_NAME);
    const x = requireInput(args.inputs, 'x', KERNEL_NAME);
    const filter = requireInput(args.inputs, 'filter', KERNEL_NAME);
    const bias = args.inputs.bias;
    const attrs = args.attrs as unknown as ConvAttrs & Partial<tf.FusedConv2DAttrs>;
    if (x.dtype !== 'float32' || filter.dtype !== 'float32') {
      return original(args);
    }

    const info = computeConvInfo(x.shape, filter.shape, attrs, KERNEL_NAME);
    const biasValues = bias !== undefined && bias.dtype === 'float32' ? readFloat32Values(backend, bias, KERNEL_NAME) : null;
    const epilogue = parseEpilogue(bias, biasValues, attrs.activation, attrs.leakyreluAlpha, info.outChannels);
    if (epilogue === null) {
      return original(args);
    }

    const geometry = toConvGeometry(info);
    const values = computeConv2D(
      readFloat32Values(backend, x, KERNEL_NAME),
      readFloat32Values(backend, filter, KERNEL_NAME),
      geometry,
    );
    const positionsPerImage = geometry.outHeight * geometry.outWidth;
    if (geometry.channelsLast) {
      applyEpilogue(values, geometry.batchSize * positionsPerImage, geometry.outChannels, 1, epilogue);
    } else {
      applyEpilogue(values, geometry.batchSize, geometry.outChannels, positionsPerImage, epilogue);
    }
    return backend.makeTensorInfo(info.outShape, 'float32', values);
  };
}
