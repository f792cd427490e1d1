import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CentroidError } from '@centroid/contracts';
import { joinNegativeNumberValues, toNumber } from '../src/arguments.js';

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

describe('joinNegativeNumberValues', () => {
  const options = { epochs: { type: 'string' }, 'learning-rate': { type: 'string' }, 'cluster-biases': { type: 'boolean' } } as const;

  it('joins a negative number to its option', () => {
    assert.deepEqual(joinNegativeNumberValues(['m.h5', '--epochs', '-1'], options), ['m.h5', '--epochs=-1']);
    assert.deepEqual(joinNegativeNumberValues(['--learning-rate', '-1e-5'], options), ['--learning-rate=-1e-5']);
    assert.deepEqual(joinNegativeNumberValues(['--learning-rate', '-.5'], options), ['--learning-rate=-.5']);
  });

  it('leaves other arguments alone', () => {
    const cases: string[][] = [
      ['--epochs', '3'],
      ['--epochs', '--cluster-biases'],
      ['--epochs', '-x'],
      ['--cluster-biases', '-1'],
      ['--unknown', '-1'],
      ['--epochs=-1'],
      ['--', '--epochs', '-1'],
      ['--epochs'],
    ];
    for (const argv of cases) {
      assert.deepEqual(joinNegativeNumberValues(argv, options), argv, argv.join(' '));
    }
  });
});
