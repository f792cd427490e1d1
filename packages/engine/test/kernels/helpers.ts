import assert from 'node:assert/strict';

import * as tf from '@tensorflow/tfjs';

/** Returns a seeded generator of uniform numbers in [0, 1) (mulberry32), so failures reproduce. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Returns a uniform integer in [min, max]. */
export function randomInt(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

export function pick<T>(random: () => number, choices: readonly T[]): T {
  return choices[Math.floor(random() * choices.length)]!;
}

/** Returns a float32 tensor of the given shape with values uniform in [-1, 1). */
export function randomTensor(random: () => number, shape: number[]): tf.Tensor {
  const size = shape.reduce((product, dimension) => product * dimension, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    values[i] = random() * 2 - 1;
  }
  return tf.tensor(values, shape, 'float32');
}

/** Attributes of one random 2-D convolution, in the form the tfjs conv kernels take them. */
export interface ConvCase {
  xShape: [number, number, number, number];
  filterShape: [number, number, number, number];
  strides: [number, number];
  dilations: [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  info: tf.backend_util.Conv2DInfo;
}

export interface ConvCaseLimits {
  maxBatch: number;
  maxSize: number;
  maxChannels: number;
  maxFilterSize: number;
  maxStride: number;
  maxDilation: number;
  dataFormats: readonly ('NHWC' | 'NCHW')[];
}

export const DEFAULT_CONV_LIMITS: ConvCaseLimits = {
  maxBatch: 4,
  maxSize: 12,
  maxChannels: 8,
  maxFilterSize: 5,
  maxStride: 3,
  maxDilation: 1,
  dataFormats: ['NHWC', 'NCHW'],
};

function randomPad(random: () => number, dataFormat: 'NHWC' | 'NCHW'): ConvCase['pad'] {
  const kind = pick(random, ['valid', 'same', 'explicit', 'number'] as const);
  if (kind === 'valid' || kind === 'same') {
    return kind;
  }
  if (kind === 'number') {
    return randomInt(random, 0, 2);
  }
  const rows: [number, number] = [randomInt(random, 0, 2), randomInt(random, 0, 2)];
  const columns: [number, number] = [randomInt(random, 0, 2), randomInt(random, 0, 2)];
  return dataFormat === 'NHWC'
    ? [[0, 0], rows, columns, [0, 0]]
    : [[0, 0], [0, 0], rows, columns];
}

/** Draws random convolutions until one has at least one output position. */
export function randomConvCase(random: () => number, limits: ConvCaseLimits = DEFAULT_CONV_LIMITS): ConvCase {
  for (;;) {
    const dataFormat = pick(random, limits.dataFormats);
    const batch = randomInt(random, 1, limits.maxBatch);
    const height = randomInt(random, 1, limits.maxSize);
    const width = randomInt(random, 1, limits.maxSize);
    const inChannels = randomInt(random, 1, limits.maxChannels);
    const outChannels = randomInt(random, 1, limits.maxChannels);
    const filterShape: [number, number, number, number] = [
      randomInt(random, 1, limits.maxFilterSize),
      randomInt(random, 1, limits.maxFilterSize),
      inChannels,
      outChannels,
    ];
    const strides: [number, number] = [randomInt(random, 1, limits.maxStride), randomInt(random, 1, limits.maxStride)];
    const dilations: [number, number] = [randomInt(random, 1, limits.maxDilation), randomInt(random, 1, limits.maxDilation)];
    const pad = randomPad(random, dataFormat);
    const dimRoundingMode = typeof pad === 'string' ? undefined : pick(random, [undefined, 'floor', 'round', 'ceil'] as const);
    const xShape: [number, number, number, number] =
      dataFormat === 'NHWC' ? [batch, height, width, inChannels] : [batch, inChannels, height, width];

    const info = tf.backend_util.computeConv2DInfo(
      xShape,
      filterShape,
      strides,
      dilations,
      pad,
      dimRoundingMode,
      false,
      tf.backend_util.convertConv2DDataFormat(dataFormat),
    );
    if (info.outHeight >= 1 && info.outWidth >= 1) {
      return { xShape, filterShape, strides, dilations, pad, dataFormat, dimRoundingMode, info };
    }
  }
}

/** Describes a case for assertion messages. */
export function describeConvCase(convCase: ConvCase): string {
  const { info, xShape, filterShape, strides, dilations, pad, dataFormat, dimRoundingMode } = convCase;
  return (
    `x [${xShape.join(',')}] filter [${filterShape.join(',')}] strides ${strides.join('x')} ` +
    `dilations ${dilations.join('x')} pad ${JSON.stringify(pad)} ${dataFormat} rounding ${dimRoundingMode ?? 'none'} ` +
    `out [${info.outShape.join(',')}]`
  );
}

export interface KernelOutput {
  shape: number[];
  dtype: tf.DataType;
  values: Float32Array | Int32Array | Uint8Array;
}

/** Calls a kernel function on the current backend, copies its output and releases the output tensor. */
export function runKernelFunc(
  kernelFunc: tf.KernelFunc,
  inputs: Record<string, tf.Tensor>,
  attrs: object,
): KernelOutput {
  const backend = tf.backend();
  const result = kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap });
  const info = Array.isArray(result) ? result[0]! : result;
  const values = backend.readSync(info.dataId) as Float32Array | Int32Array | Uint8Array;
  const output = { shape: [...info.shape], dtype: info.dtype, values: values.slice() };
  backend.disposeData(info.dataId);
  return output;
}

/** Returns the original kernel function that the cpu backend registered, raising if it is missing. */
export function getCpuKernelFunc(kernelName: string): tf.KernelFunc {
  const config = tf.getKernel(kernelName, 'cpu');
  if (config === undefined) {
    throw new Error(`Kernel ${kernelName} is not registered for the cpu backend.`);
  }
  return config.kernelFunc;
}

/**
 * Asserts that two arrays match element by element within `tolerance` times the largest magnitude
 * in `expected` (or within `tolerance` when all expected values are below 1). NaN matches NaN.
 */
export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
  message: string,
): void {
  assert.equal(actual.length, expected.length, `${message}: length`);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) {
    const magnitude = Math.abs(expected[i]!);
    if (magnitude > scale) {
      scale = magnitude;
    }
  }
  for (let i = 0; i < expected.length; i++) {
    const got = actual[i]!;
    const want = expected[i]!;
    if (Number.isNaN(want) && Number.isNaN(got)) {
      continue;
    }
    if (!(Math.abs(got - want) <= tolerance * scale)) {
      assert.fail(`${message}: element ${i} is ${got}, expected ${want} (tolerance ${tolerance * scale})`);
    }
  }
}

/** Asserts that a kernel output has the expected shape and dtype and values close to `expected`. */
export function assertOutputsClose(actual: KernelOutput, expected: KernelOutput, tolerance: number, message: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${message}: shape`);
  assert.equal(actual.dtype, expected.dtype, `${message}: dtype`);
  assertAllClose(actual.values, expected.values, tolerance, message);
}
