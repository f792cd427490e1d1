import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CentroidError } from '@centroid/contracts';
import { fixturePath } from '@centroid/examples';
import { joinNegativeNumberValues, readParamsFile, toNumber } from '../src/arguments.js';

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

describe('readParamsFile', () => {
  it('reads a file with a byte order mark', async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'centroid-params-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'params.json');
    await writeFile(file, '\uFEFF{"number_of_clusters": 4}', 'utf8');

    assert.deepEqual(await readParamsFile(file), { number_of_clusters: 4 });
  });

  it('rejects a binary file without quoting it', async () => {
    const file = fixturePath('tiny-cnn.h5');
    await assert.rejects(readParamsFile(file), (error: unknown) => {
      assert.ok(error instanceof CentroidError);
      assert.equal(error.code, 'PARAMS_INVALID');
      assert.equal(error.message, `Invalid parameters file ${file}: it contains NUL bytes, so it is a binary file, not JSON text.`);
      return true;
    });
  });
});
