import * as tf from '@tensorflow/tfjs';

import { createBatchMatMulKernel } from './batch-mat-mul.js';
import { conv2DBackpropFilter } from './conv2d-backprop-filter.js';
import { conv2DBackpropInput } from './conv2d-backprop-input.js';
import { createConv2DKernel } from './conv2d.js';
import { createFusedConv2DKernel } from './fused-conv2d.js';
import { createFusedMatMulKernel } from './fused-mat-mul.js';
import { createMaxPoolGradKernel } from './max-pool-grad.js';
import { createSumKernel } from './sum.js';

export { computeBatchMatMul, createBatchMatMulKernel } from './batch-mat-mul.js';
export type { BatchMatMulShape } from './batch-mat-mul.js';
export { DEFAULT_MAX_TEMP_ELEMENTS } from './conv-geometry.js';
export { computeConv2D, createConv2DKernel } from './conv2d.js';
export { computeConv2DFilterGradient, conv2DBackpropFilter } from './conv2d-backprop-filter.js';
export { computeConv2DInputGradient, conv2DBackpropInput } from './conv2d-backprop-input.js';
export { createFusedConv2DKernel } from './fused-conv2d.js';
export { createFusedMatMulKernel } from './fused-mat-mul.js';
export { computeMaxPoolInputGradient, createMaxPoolGradKernel } from './max-pool-grad.js';
export { createSumKernel, sumLeadingAxes } from './sum.js';

/** Replacement for one kernel of the `cpu` backend, built from the kernel it replaces. */
interface FastKernel {
  kernelName: string;
  create(original: tf.KernelFunc): tf.KernelFunc;
}

const FAST_CPU_KERNELS: readonly FastKernel[] = [
  { kernelName: tf.Conv2DBackpropFilter, create: () => conv2DBackpropFilter as tf.KernelFunc },
  { kernelName: tf.Conv2DBackpropInput, create: () => conv2DBackpropInput as tf.KernelFunc },
  { kernelName: tf.Conv2D, create: createConv2DKernel },
  { kernelName: tf.MaxPoolGrad, create: createMaxPoolGradKernel },
  { kernelName: tf.BatchMatMul, create: createBatchMatMulKernel },
  { kernelName: tf.Sum, create: createSumKernel },
  { kernelName: tf.FusedConv2D, create: createFusedConv2DKernel },
  { kernelName: tf._FusedMatMul, create: createFusedMatMulKernel },
];

/** Kernel functions that registerFastCpuKernels installed, by kernel name. */
const installed = new Map<string, tf.KernelFunc>();

/**
 * Replaces kernels of the tfjs `cpu` backend with the faster implementations in this folder and
 * returns the names of the replaced kernels: Conv2DBackpropFilter, Conv2DBackpropInput, Conv2D,
 * MaxPoolGrad, BatchMatMul, Sum, FusedConv2D and _FusedMatMul.
 *
 * Calling it again changes nothing and returns the same names. A kernel that the `cpu` backend
 * has not registered is skipped and not returned. Each replacement hands the cases it does not
 * cover (for example non-float32 inputs) to the kernel it replaced.
 */
export function registerFastCpuKernels(): string[] {
  const replaced: string[] = [];
  for (const { kernelName, create } of FAST_CPU_KERNELS) {
    const current = tf.getKernel(kernelName, 'cpu');
    if (current === undefined) {
      continue;
    }
    if (current.kernelFunc !== installed.get(kernelName)) {
      const kernelFunc = create(current.kernelFunc);
      tf.unregisterKernel(kernelName, 'cpu');
      tf.registerKernel({ ...current, kernelFunc });
      installed.set(kernelName, kernelFunc);
    }
    replaced.push(kernelName);
  }
  return replaced;
}
