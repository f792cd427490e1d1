import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MetricsSchema } from '@centroid/contracts';
import { encodeNpy, fixturePath } from '@centroid/examples';
import { centroid } from './run-cli.js';


describe('centroid run with .npy files', () => {
  let dir: string;
  const file = (name: string) => path.join(dir, name);

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'centroid-cli-npy-'));
    // The tiny CNN fixture takes 8×8×1 images and predicts 4 classes.
    const images = (samples: number) => Float32Array.from({ length: samples * 64 }, (_, index) => (index % 7) / 7);
    await writeFile(file('x_train.npy'), encodeNpy({ dtype: '<f4', shape: [8, 8, 8, 1], data: images(8) }));
    await writeFile(file('y_train.npy'), encodeNpy({ dtype: '|u1', shape: [8], data: Uint8Array.from([0, 1, 2, 3, 0, 1, 2, 3]) }));
    await writeFile(file('x_test.npy'), encodeNpy({ dtype: '<f4', shape: [4, 8, 8, 1], data: images(4) }));
    await writeFile(file('y_test.npy'), encodeNpy({ dtype: '<i8', shape: [4], data: BigInt64Array.from([3n, 2n, 1n, 0n]) }));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fine-tunes and evaluates on four files', async () => {
    const resultFile = file('result.json');
    const run = await centroid([
      'run',
      fixturePath('tiny-cnn.h5'),
      '--x-train-file',
      file('x_train.npy'),
      '--y-train-file',
      file('y_train.npy'),
      '--x-test-file',
      file('x_test.npy'),
      '--y-test-file',
      file('y_test.npy'),
      '--number-of-clusters',
      '4',
      '--batch-size',
      '4',
      '--out',
      file('out.h5'),
      '--result',
      resultFile,
    ]);

    assert.equal(run.code, 0, run.stderr);
    const metrics = MetricsSchema.parse(JSON.parse(await readFile(resultFile, 'utf8')));
    assert.equal(metrics.fine_tuning.performed, true);
    assert.equal(metrics.fine_tuning.train_samples, 8);
    assert.equal(metrics.baseline?.samples, 4);
  });

  it('rejects --data with .npy files', async () => {
    const run = await centroid(['run', fixturePath('tiny-cnn.h5'), '--data', fixturePath('tiny-cnn.npz'), '--x-test-file', file('x_test.npy'), '--number-of-clusters', '4']);

    assert.equal(run.code, 2);
    assert.match(run.stderr, /--data and --x-test-file both give a dataset/);
  });

  it('names a missing file of a pair', async () => {
    const run = await centroid(['run', fixturePath('tiny-cnn.h5'), '--x-test-file', file('x_test.npy'), '--epochs', '0', '--number-of-clusters', '4']);

    assert.equal(run.code, 2);
    assert.match(run.stderr, /missing --y-test-file: a dataset given as \.npy files needs the test pair/);
  });

  it('requires training files when fine-tuning', async () => {
    const run = await centroid([
      'run',
      fixturePath('tiny-cnn.h5'),
      '--x-test-file',
      file('x_test.npy'),
      '--y-test-file',
      file('y_test.npy'),
      '--number-of-clusters',
      '4',
    ]);

    assert.equal(run.code, 2);
    assert.match(run.stderr, /missing --x-train-file, --y-train-file: .*--epochs is above 0 \(it is 1\)/);
  });

  it('names a file whose header lies', async () => {
    const whole = await readFile(file('x_test.npy'));
    await writeFile(file('short.npy'), whole.subarray(0, whole.length - 4));
    const run = await centroid([
      'run',
      fixturePath('tiny-cnn.h5'),
      '--x-test-file',
      file('short.npy'),
      '--y-test-file',
      file('y_test.npy'),
      '--epochs',
      '0',
      '--number-of-clusters',
      '4',
      '--out',
      file('never.h5'),
    ]);

    assert.equal(run.code, 1);
    assert.match(run.stderr, /error DATASET_INVALID: short\.npy: array "x_test" has 1020 bytes of values, but its header declares shape \(4, 8, 8, 1\) of float32, which needs 1024 bytes/);
  });

  it('names the files in dataset errors', async () => {
    await writeFile(file('three-labels.npy'), encodeNpy({ dtype: '|u1', shape: [3], data: Uint8Array.from([0, 1, 2]) }));
    const run = await centroid([
      'run',
      fixturePath('tiny-cnn.h5'),
      '--x-test-file',
      file('x_test.npy'),
      '--y-test-file',
      file('three-labels.npy'),
      '--epochs',
      '0',
      '--number-of-clusters',
      '4',
      '--out',
      file('never.h5'),
    ]);

    assert.equal(run.code, 1);
    assert.match(run.stderr, /\.npy files x_test \(x_test\.npy\), y_test \(three-labels\.npy\)/);
    assert.doesNotMatch(run.stderr, /dataset\.npz/);
  });
});
