import * as tf from '@tensorflow/tfjs';

import { multiplyOnCpu } from './batch-mat-mul.js';
import { asCpuBackend, readFloat32Values, requireInput } from './cpu-backend.js';
import { applyEpilogue, parseEpilogue } from './fused-epilogue.js';

const KERNEL_NAME = tf._FusedMatMul;

/**
 * Creates _FusedMatMul for the tfjs `cpu` backend: the fast batched multiply of BatchMatMul,
 * then bias and activation in place. In tfjs 4.22.0, tf.layers.dense runs this kernel in predict
 * and evaluate, and also in training unless its activation is relu or elu. Cases that the fast
 * path does not cover, such as prelu, go to `original`.
 */
export function createFusedMatMulKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const backend = asCpuBackend(args.backend, KERNEL_NAME);
    const a = requireInput(args.inputs, 'a', KERNEL_NAME);
    const b = requireInput(args.inputs, 'b', KERNEL_NAME);
    const bias = args.inputs.bias;
    const attrs = args.attrs as unknown as Partial<tf._FusedMatMulAttrs>;
    const transposeA = attrs.transposeA ?? false;
    const transposeB = attrs.transposeB ?? false;

    const cols = transposeB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1];
    const biasValues = bias !== undefined && bias.dtype === 'float32' ? readFloat32Values(backend, bias, KERNEL_NAME) : null;
    const epilogue = parseEpilogue(bias, biasValues, attrs.activation, attrs.leakyreluAlpha, cols ?? 0);
    if (epilogue === null) {
      return original(args);
    }
    const result = multiplyOnCpu(backend, a, b, transposeA, transposeB, KERNEL_NAME);
    if (result === null) {
      return original(args);
    }

    const channels = result.shape[result.shape.length - 1]!;
    applyEpilogue(result.values, channels === 0 ? 0 : result.values.length / channels, channels, 1, epilogue);
    return backend.makeTensorInfo(result.shape, 'float32', result.values);
  };
}
