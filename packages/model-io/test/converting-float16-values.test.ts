import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { float16BitsToNumber, float16ToFloat32, float32ToFloat16, numberToFloat16Bits } from '../src/float16.js';

describe('float16 conversion', () => {
  test('round-trips every float16 pattern', () => {
    const all = Uint16Array.from({ length: 0x10000 }, (_, bits) => bits);
    const back = float32ToFloat16(float16ToFloat32(all));

    for (let bits = 0; bits < 0x10000; bits++) {
      const isNaN = (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
      if (isNaN) {
        assert.ok(Number.isNaN(float16BitsToNumber(bits)), `0x${bits.toString(16)} should decode to NaN`);
        assert.equal((back[bits] as number) & 0x7c00, 0x7c00, `0x${bits.toString(16)} should stay NaN`);
        continue;
      }
      assert.equal(back[bits], bits, `0x${bits.toString(16)} changed to 0x${(back[bits] as number).toString(16)}`);
    }
  });

  test('decodes known values', () => {
    assert.equal(float16BitsToNumber(0x3c00), 1);
    assert.equal(float16BitsToNumber(0xc000), -2);
    assert.equal(float16BitsToNumber(0x7bff), 65504);
    assert.equal(float16BitsToNumber(0x0001), 2 ** -24);
    assert.equal(float16BitsToNumber(0x0400), 2 ** -14);
    assert.equal(float16BitsToNumber(0x7c00), Infinity);
    assert.equal(float16BitsToNumber(0xfc00), -Infinity);
    assert.ok(Object.is(float16BitsToNumber(0x8000), -0));
  });

  test('rounds ties to even', () => {
    // 1 + 2^-11 lies halfway between 1 (0x3c00, even) and 1 + 2^-10 (0x3c01).
    assert.equal(numberToFloat16Bits(1 + 2 ** -11), 0x3c00);
    // 1 + 3 * 2^-11 lies halfway between 0x3c01 (odd) and 0x3c02 (even).
    assert.equal(numberToFloat16Bits(1 + 3 * 2 ** -11), 0x3c02);
    assert.equal(numberToFloat16Bits(1 + 2 ** -11 + 2 ** -20), 0x3c01);
  });

  test('rounds subnormals and underflow', () => {
    assert.equal(numberToFloat16Bits(2 ** -24), 0x0001);
    assert.equal(numberToFloat16Bits(2 ** -25), 0x0000, 'halfway to the smallest subnormal rounds to even zero');
    assert.equal(numberToFloat16Bits(1.5 * 2 ** -25), 0x0001);
    assert.equal(numberToFloat16Bits(3 * 2 ** -25), 0x0002, 'halfway between 1 and 2 subnormal steps rounds to even');
    assert.equal(numberToFloat16Bits(-(2 ** -30)), 0x8000);
  });

  test('overflows to infinity', () => {
    assert.equal(numberToFloat16Bits(65504), 0x7bff);
    assert.equal(numberToFloat16Bits(65520), 0x7c00, 'halfway past the maximum rounds up to infinity');
    assert.equal(numberToFloat16Bits(1e6), 0x7c00);
    assert.equal(numberToFloat16Bits(-1e6), 0xfc00);
    assert.equal(numberToFloat16Bits(Infinity), 0x7c00);
    assert.equal(numberToFloat16Bits(NaN) & 0x7e00, 0x7e00);
  });
});
