// Checks the kernels and gradients that native-kernels.ts registers for the 'tensorflow'
// backend against values computed here in plain JavaScript. The file activates that
// backend itself, so it skips, saying why, where `pnpm setup:native` has not built it.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend.js';

let skipReason: string | false = false;

before(async () => {
  try {
    await selectBackend({ CENTROID_BACKEND: 'tensorflow' });
  } catch (error) {
    skipReason = `the native backend is not available: ${(error as Error).message}`;
  }
});

describe('native GatherV2', () => {
  it('gathers rows and batched indices', (context) => {
    if (skipReason !== false) return context.skip(skipReason);

    const rows = tf.tidy(() => tf.gather(tf.tensor2d([[1, 2], [3, 4], [5, 6]]), tf.tensor1d([2, 0, 2], 'int32')).arraySync());
    assert.deepEqual(rows, [[5, 6], [1, 2], [5, 6]]);

    const batched = tf.tidy(() =>
      tf.gather(tf.tensor2d([[10, 11, 12], [20, 21, 22]]), tf.tensor2d([[2, 0], [1, 1]], [2, 2], 'int32'), 1, 1).arraySync(),
    );
    assert.deepEqual(batched, [[12, 10], [21, 21]]);
  });

  it('rejects an index out of range', (context) => {
    if (skipReason !== false) return context.skip(skipReason);

    assert.throws(
      () => tf.tidy(() => tf.gather(tf.tensor1d([1, 2, 3]), tf.tensor1d([0, 3], 'int32')).dataSync()),
      /indices\[1\] = 3 is not in \[0, 3\)/,
    );
  });
});

describe('native Relu gradient', () => {
  it('passes dy where x is positive', (context) => {
    if (skipReason !== false) return context.skip(skipReason);

    const x = [-2, -0, 0, 1e-30, 0.5, 3, -1e-30];
    const dy = [1, 2, 3, 4, 5, 6, 7];
    const gradient = tf.tidy(() => {
      const relu = (input: tf.Tensor) => tf.relu(input);
      return tf.grad(relu)(tf.tensor1d(x), tf.tensor1d(dy)).dataSync();
    });
    const expected = x.map((value, i) => (value > 0 ? (dy[i] as number) : 0));
    assert.deepEqual(Array.from(gradient), expected);
  });

  it('runs as one ReluGrad kernel', async (context) => {
    if (skipReason !== false) return context.skip(skipReason);

    const profile = await tf.profile(() => tf.tidy(() => tf.grad((input: tf.Tensor) => tf.relu(input))(tf.tensor1d([-1, 2])).dataSync()));
    const kernels = profile.kernels.map((kernel) => kernel.name);
    assert.ok(kernels.includes('ReluGrad'), `kernels run: ${kernels.join(', ')}`);
    assert.ok(!kernels.includes('Step'), `kernels run: ${kernels.join(', ')}`);
  });

  it('trains a dense ReLU layer like the JavaScript gradient', (context) => {
    if (skipReason !== false) return context.skip(skipReason);

    // d/dw of sum(relu(x · w)) is xᵀ · step(x · w), computed here by hand.
    const x = [
      [1, -2],
      [0.5, 3],
      [-1, 1],
    ];
    const w = [[0.7], [0.4]];
    const gradient = tf.tidy(() => {
      const loss = (weights: tf.Tensor) => tf.sum(tf.relu(tf.matMul(tf.tensor2d(x), weights as tf.Tensor2D)));
      return tf.grad(loss)(tf.tensor2d(w)).arraySync() as number[][];
    });
    const active = x.map((row) => (row[0]! * w[0]![0]! + row[1]! * w[1]![0]! > 0 ? 1 : 0));
    const expected = [0, 1].map((j) => [x.reduce((sum, row, i) => sum + row[j]! * active[i]!, 0)]);
    assert.deepEqual(gradient, expected);
  });
});

describe('native FusedConv2D bias', () => {
  it('matches convolution plus bias', (context) => {
    if (skipReason !== false) return context.skip(skipReason);

    tf.tidy(() => {
      const x = tf.randomNormal([2, 5, 5, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const filter = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
      const bias = tf.tensor1d([0.5, -1, 2, 0]);
      const reference = tf.add(tf.conv2d(x, filter, 1, 'valid'), bias);

      const fused = tf.fused.conv2d({ x, filter, strides: 1, pad: 'valid', bias });
      assert.deepEqual(Array.from(fused.dataSync()), Array.from(reference.dataSync()));

      const activated = tf.fused.conv2d({ x, filter, strides: 1, pad: 'valid', bias, activation: 'relu' });
      assert.deepEqual(Array.from(activated.dataSync()), Array.from(tf.relu(reference).dataSync()));
    });
  });

  it('adds the bias with BiasAdd', (context) => {
    if (skipReason !== false) return context.skip(skipReason);

    const backend = tf.backend() as unknown as { executeSingleOutput: (name: string, ...rest: unknown[]) => unknown };
    const execute = backend.executeSingleOutput;
    const operations: string[] = [];
    backend.executeSingleOutput = function (this: unknown, name: string, ...rest: unknown[]) {
      operations.push(name);
      return execute.call(this, name, ...rest);
    };
    try {
      tf.tidy(() => {
        const x = tf.ones([1, 3, 3, 1]) as tf.Tensor4D;
        const filter = tf.ones([2, 2, 1, 2]) as tf.Tensor4D;
        tf.fused.conv2d({ x, filter, strides: 1, pad: 'valid', bias: tf.tensor1d([1, 2]) }).dataSync();
      });
    } finally {
      backend.executeSingleOutput = execute;
    }
    assert.ok(operations.includes('BiasAdd'), `operations run: ${operations.join(', ')}`);
  });

  it('falls back for a scalar-like bias', (context) => {
    if (skipReason !== false) return context.skip(skipReason);

    tf.tidy(() => {
      const x = tf.ones([1, 3, 3, 1]) as tf.Tensor4D;
      const filter = tf.ones([2, 2, 1, 2]) as tf.Tensor4D;
      const fused = tf.fused.conv2d({ x, filter, strides: 1, pad: 'valid', bias: tf.tensor1d([1]) });
      assert.deepEqual(Array.from(fused.dataSync()), Array(8).fill(5));
    });
  });

  it('trains through the bias', (context) => {
    if (skipReason !== false) return context.skip(skipReason);

    const gradient = tf.tidy(() => {
      const x = tf.ones([1, 3, 3, 1]) as tf.Tensor4D;
      const filter = tf.ones([2, 2, 1, 2]) as tf.Tensor4D;
      const loss = (bias: tf.Tensor) => tf.sum(tf.fused.conv2d({ x, filter, strides: 1, pad: 'valid', bias: bias as tf.Tensor1D }));
      return Array.from(tf.grad(loss)(tf.tensor1d([0, 0])).dataSync());
    });
    // Each of the two channels has a 2 × 2 output, so each bias receives 4.
    assert.deepEqual(gradient, [4, 4]);
  });
});
