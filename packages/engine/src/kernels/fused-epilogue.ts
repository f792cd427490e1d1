import type * as tf from '@tensorflow/tfjs';

/**
 * Bias and activation that FusedConv2D and _FusedMatMul apply to their product, in a form the
 * fast kernels support. `bias` has length 1 (added everywhere) or one value per channel.
 */
export interface Epilogue {
  bias: Float32Array | null;
  activation: 'linear' | 'relu' | 'relu6' | 'elu' | 'sigmoid' | 'leakyrelu';
  leakyreluAlpha: number;
}

/**
 * Returns the epilogue for the given attributes, or null when the original kernel should run.
 * The fast kernels do not support prelu, leakyrelu without an alpha, or activations unknown to
 * tfjs 4.22.0. They also need a float32 bias of rank 0 or 1 with 1 or `channels` values.
 */
export function parseEpilogue(
  bias: tf.TensorInfo | undefined,
  biasValues: Float32Array | null,
  activation: string | null | undefined,
  leakyreluAlpha: number | undefined,
  channels: number,
): Epilogue | null {
  let epilogueBias: Float32Array | null = null;
  if (bias !== undefined) {
    const size = bias.shape.reduce((product, dimension) => product * dimension, 1);
    if (bias.dtype !== 'float32' || biasValues === null || bias.shape.length > 1 || (size !== 1 && size !== channels)) {
      return null;
    }
    epilogueBias = biasValues;
  }

  // The original kernels apply no activation when the attribute is null, missing or empty.
  const name = activation == null || activation === '' ? 'linear' : activation;
  switch (name) {
    case 'linear':
    case 'relu':
    case 'relu6':
    case 'elu':
    case 'sigmoid':
      return { bias: epilogueBias, activation: name, leakyreluAlpha: 0 };
    case 'leakyrelu':
      return typeof leakyreluAlpha === 'number' ? { bias: epilogueBias, activation: name, leakyreluAlpha } : null;
    default:
      return null;
  }
}

/**
 * Adds the bias to `values` in place and applies the activation, with the same float32 rounding
 * steps and formulas as the Add and activation kernels of @tensorflow/tfjs-backend-cpu 4.22.0.
 * `values` is laid out as [outer, channels, inner], so channel c covers
 * values[(o * channels + c) * inner + i].
 */
export function applyEpilogue(values: Float32Array, outer: number, channels: number, inner: number, epilogue: Epilogue): void {
  const { bias } = epilogue;
  if (bias !== null) {
    const perChannel = bias.length !== 1;
    let index = 0;
    for (let o = 0; o < outer; o++) {
      for (let channel = 0; channel < channels; channel++) {
        const biasValue = bias[perChannel ? channel : 0]!;
        for (let i = 0; i < inner; i++) {
          values[index] = values[index]! + biasValue;
          index++;
        }
      }
    }
  }

  const alpha = epilogue.leakyreluAlpha;
  switch (epilogue.activation) {
    case 'linear':
      return;
    case 'relu':
      values.forEach((value, index) => {
        values[index] = Math.max(0, value);
      });
      return;
    case 'relu6':
      values.forEach((value, index) => {
        values[index] = Math.min(Math.max(0, value), 6);
      });
      return;
    case 'elu':
      values.forEach((value, index) => {
        values[index] = value >= 0 ? value : Math.exp(value) - 1;
      });
      return;
    case 'sigmoid':
      values.forEach((value, index) => {
        values[index] = 1 / (1 + Math.exp(-value));
      });
      return;
    case 'leakyrelu':
      values.forEach((value, index) => {
        values[index] = value < 0 ? alpha * value : value;
      });
      return;
  }
}
