// IEEE 754 half-precision conversion. Node 20 has no Float16Array, and both Keras
// (float16 layers) and NumPy (`<f2`) store half-precision values as raw 16-bit words.

const float32View = new Float32Array(1);
const uint32View = new Uint32Array(float32View.buffer);

/** Converts one float16 bit pattern to its exact float32 value. */
export function float16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;

  if (exponent === 0) {
    return sign * mantissa * 2 ** -24;
  }
  if (exponent === 0x1f) {
    return mantissa === 0 ? sign * Infinity : NaN;
  }
  uint32View[0] = ((bits & 0x8000) << 16) | ((exponent + 112) << 23) | (mantissa << 13);
  return float32View[0] as number;
}

/** Converts float16 bit patterns to float32 values; every float16 value is exact in float32. */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const values = new Float32Array(bits.length);
  for (let index = 0; index < bits.length; index++) {
    values[index] = float16BitsToNumber(bits[index] as number);
  }
  return values;
}

/**
 * Rounds one float32 value to the nearest float16 bit pattern, ties to even, as NumPy's
 * `astype(np.float16)` does. Values beyond the float16 range become infinities, and NaN
 * stays NaN.
 */
export function numberToFloat16Bits(value: number): number {
  float32View[0] = value;
  const bits = uint32View[0] as number;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;

  if (exponent === 0xff) {
    return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00;
  }

  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) {
    return sign | 0x7c00;
  }

  if (halfExponent <= 0) {
    // The result is subnormal or zero: shift the mantissa, with its implicit leading
    // one, right until its unit is 2^-24, and round on the bits shifted out.
    if (halfExponent < -10) {
      return sign;
    }
    const fullMantissa = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    let halfMantissa = fullMantissa >>> shift;
    const remainder = fullMantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && (halfMantissa & 1) === 1)) {
      halfMantissa += 1;
    }
    return sign | halfMantissa;
  }

  // A carry out of the mantissa increments the exponent, which is the correct result,
  // up to and including rounding to infinity.
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  if (remainder > 0x1000 || (remainder === 0x1000 && (half & 1) === 1)) {
    half += 1;
  }
  return sign | half;
}

/** Rounds float32 values to float16 bit patterns, ties to even. */
export function float32ToFloat16(values: Float32Array): Uint16Array {
  const bits = new Uint16Array(values.length);
  for (let index = 0; index < values.length; index++) {
    bits[index] = numberToFloat16Bits(values[index] as number);
  }
  return bits;
}
