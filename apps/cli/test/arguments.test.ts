import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CentroidError } from '@centroid/contracts';
import { toNumber } from '../src/arguments.js';

describe('toNumber', () => {
  const accepted: Array<[string, number]> = [
    ['8', 8],
    ['-3', -3],
    ['0.5', 0.5],
    ['.5', 0.5],
    ['1e-5', 1e-5],
    ['2E3', 2000],
  ];
  for (const [raw, expected] of accepted) {
    it(`reads '${raw}'`, () => {
      assert.equal(toNumber(raw, '--clusters'), expected);
    });
  }

  for (const raw of ['0x10', '0b11', ' 8', '8 ', '', 'Infinity', 'NaN', '1e', '8clusters']) {
    it(`rejects '${raw}'`, () => {
      assert.throws(
        () => toNumber(raw, '--clusters'),
        (error: unknown) => error instanceof CentroidError && error.message.includes(`Invalid value for --clusters`),
      );
    });
  }

  it('keeps an absent option undefined', () => {
    assert.equal(toNumber(undefined, '--clusters'), undefined);
  });
});
