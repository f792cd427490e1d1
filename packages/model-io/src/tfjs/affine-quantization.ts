// TF.js affine uint8 and uint16 weight quantization: each stored integer q stands for
// `q * scale + min`, the form that tf.io decodes when it loads a layers model.
import type { AffineQuantization } from '../model-types.js';

/** Decodes little-endian uint8 or uint16 codes into float32 values. */
export function dequantize(bytes: Uint8Array, quantization: AffineQuantization): Float32Array {
  const codes =
    quantization.dtype === 'uint8'
      ? bytes
      : new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return Float32Array.from(codes, (code) => code * quantization.scale + quantization.min);
}

/**
 * Quantizes values over their own range, `min` to `max` in 2^8 − 1 or 2^16 − 1 steps,
 * and returns the codes as little-endian bytes with the new parameters. Values that are
 * all equal get scale 1. Distinct codes never outnumber distinct values, so a clustered
 * tensor keeps at most its number of clusters, but each value moves by up to half a step.
 */
export function quantize(values: Float32Array, dtype: AffineQuantization['dtype']): { bytes: Uint8Array; quantization: AffineQuantization } {
  let min = Infinity;
  let max = -Infinity;
  for (const value of values) {
    min = Math.min(min, value);
    max = Math.max(max, value);
  }
  if (values.length === 0) {
    min = 0;
    max = 0;
  }

  const levels = dtype === 'uint8' ? 255 : 65535;
  const scale = max > min ? (max - min) / levels : 1;
  const codes = dtype === 'uint8' ? new Uint8Array(values.length) : new Uint16Array(values.length);
  values.forEach((value, index) => {
    codes[index] = Math.min(levels, Math.max(0, Math.round((value - min) / scale)));
  });
  return { bytes: new Uint8Array(codes.buffer), quantization: { dtype, scale, min } };
}
