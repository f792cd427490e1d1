// Checks KerasGRU with reset_after=True against the Keras GRUCell equations written out
// in plain float64 arithmetic, on random weights and inputs.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { KerasGRU, registerResetAfterGRU } from '../src/keras-h5/gru-reset-after.js';

const TOLERANCE = 1e-5;
const BATCH = 3;
const STEPS = 4;
const INPUT_DIM = 5;
const UNITS = 4;

type Matrix = number[][];
type Activation = (value: number) => number;

const sigmoid: Activation = (value) => 1 / (1 + Math.exp(-value));
/** The hard sigmoid of tf_keras 2.18 and TF.js 4.22: clip(0.2 x + 0.5, 0, 1). */
const hardSigmoid: Activation = (value) => Math.min(1, Math.max(0, 0.2 * value + 0.5));

interface GRUWeights {
  kernel: Matrix;
  recurrentKernel: Matrix;
  /** Row 0 is the input bias and row 1 the recurrent bias, or null without use_bias. */
  bias: Matrix | null;
}

interface ReferenceOptions {
  goBackwards: boolean;
  activation: Activation;
  recurrentActivation: Activation;
}

function randomMatrix(rows: number, columns: number, seed: number): Matrix {
  return tf.tidy(() => tf.randomUniform([rows, columns], -1, 1, 'float32', seed).arraySync() as Matrix);
}

function randomWeights(inputDim: number, seed: number, useBias = true): GRUWeights {
  return {
    kernel: randomMatrix(inputDim, 3 * UNITS, seed),
    recurrentKernel: randomMatrix(UNITS, 3 * UNITS, seed + 1),
    bias: useBias ? randomMatrix(2, 3 * UNITS, seed + 2) : null,
  };
}

/** Returns row · matrix for one row vector. */
function product(row: number[], matrix: Matrix): number[] {
  const columns = (matrix[0] as number[]).length;
  const result = new Array<number>(columns).fill(0);
  row.forEach((value, i) => {
    (matrix[i] as number[]).forEach((weight, j) => {
      result[j] = (result[j] as number) + value * weight;
    });
  });
  return result;
}

/**
 * Runs the Keras GRUCell with reset_after=True over every sequence of `inputs`
 * ([batch, time, features]) and returns the state after each processed step, in
 * processing order, as Keras returns them with return_sequences=True.
 */
function referenceGRU(inputs: number[][][], weights: GRUWeights, options: ReferenceOptions): number[][][] {
  return inputs.map((sequence) => {
    const steps = options.goBackwards ? [...sequence].reverse() : sequence;
    let state = new Array<number>(UNITS).fill(0);
    const states: number[][] = [];
    for (const x of steps) {
      const fromInput = product(x, weights.kernel);
      const fromState = product(state, weights.recurrentKernel);
      if (weights.bias !== null) {
        const [inputBias, recurrentBias] = weights.bias as [number[], number[]];
        fromInput.forEach((value, j) => (fromInput[j] = value + (inputBias[j] as number)));
        fromState.forEach((value, j) => (fromState[j] = value + (recurrentBias[j] as number)));
      }
      const gate = (values: number[], index: number) => values.slice(index * UNITS, (index + 1) * UNITS);
      const [inputZ, inputR, inputH] = [gate(fromInput, 0), gate(fromInput, 1), gate(fromInput, 2)];
      const [stateZ, stateR, stateH] = [gate(fromState, 0), gate(fromState, 1), gate(fromState, 2)];

      const next = state.map((previous, j) => {
        const update = options.recurrentActivation((inputZ[j] as number) + (stateZ[j] as number));
        const reset = options.recurrentActivation((inputR[j] as number) + (stateR[j] as number));
        const candidate = options.activation((inputH[j] as number) + reset * (stateH[j] as number));
        return update * previous + (1 - update) * candidate;
      });
      states.push(next);
      state = next;
    }
    return states;
  });
}

/** Builds a model from a Keras Sequential config through TF.js' deserializer, as model-io does. */
async function buildFromConfig(layers: Record<string, unknown>[]): Promise<tf.LayersModel> {
  const topology = { class_name: 'Sequential', config: { name: 'sequential', layers } };
  return tf.models.modelFromJSON({ modelTopology: topology as unknown as tf.io.ModelJSON['modelTopology'] });
}

function gruConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    class_name: 'GRU',
    config: {
      name: 'gru',
      units: UNITS,
      activation: 'tanh',
      recurrent_activation: 'sigmoid',
      use_bias: true,
      reset_after: true,
      return_sequences: false,
      return_state: false,
      go_backwards: false,
      batch_input_shape: [null, STEPS, INPUT_DIM],
      ...overrides,
    },
  };
}

function setGRUWeights(layer: tf.layers.Layer, weights: GRUWeights[]): void {
  const tensors = weights.flatMap(({ kernel, recurrentKernel, bias }) => [
    tf.tensor2d(kernel),
    tf.tensor2d(recurrentKernel),
    ...(bias === null ? [] : [tf.tensor2d(bias)]),
  ]);
  layer.setWeights(tensors);
  tf.dispose(tensors);
}

function maxDifference(actual: number[], expected: number[]): number {
  assert.equal(actual.length, expected.length, 'output sizes differ');
  return actual.reduce((largest, value, i) => Math.max(largest, Math.abs(value - (expected[i] as number))), 0);
}

function assertClose(actual: tf.Tensor, expected: unknown[], label: string): void {
  const difference = maxDifference(Array.from(actual.dataSync()), expected.flat(Infinity) as number[]);
  assert.ok(difference <= TOLERANCE, `${label}: largest difference ${difference}`);
}

const inputs = tf.tidy(() => tf.randomNormal([BATCH, STEPS, INPUT_DIM], 0, 1, 'float32', 7).arraySync() as number[][][]);

describe('GRU with reset_after=True', () => {
  before(() => {
    registerResetAfterGRU();
  });

  const cases: { name: string; overrides: Record<string, unknown>; options: ReferenceOptions; useBias?: boolean }[] = [
    { name: 'defaults', overrides: {}, options: { goBackwards: false, activation: Math.tanh, recurrentActivation: sigmoid } },
    {
      name: 'go_backwards',
      overrides: { go_backwards: true },
      options: { goBackwards: true, activation: Math.tanh, recurrentActivation: sigmoid },
    },
    {
      name: 'hard_sigmoid and relu',
      overrides: { recurrent_activation: 'hard_sigmoid', activation: 'relu' },
      options: { goBackwards: false, activation: (value) => Math.max(0, value), recurrentActivation: hardSigmoid },
    },
    {
      name: 'use_bias=False',
      overrides: { use_bias: false },
      options: { goBackwards: false, activation: Math.tanh, recurrentActivation: sigmoid },
      useBias: false,
    },
  ];

  for (const { name, overrides, options, useBias } of cases) {
    test(`matches the equations: ${name}`, async () => {
      const weights = randomWeights(INPUT_DIM, 11, useBias ?? true);
      const model = await buildFromConfig([gruConfig({ ...overrides, return_sequences: true })]);
      const layer = model.layers[0] as tf.layers.Layer;
      setGRUWeights(layer, [weights]);

      const x = tf.tensor3d(inputs);
      const output = model.predict(x) as tf.Tensor;
      assertClose(output, referenceGRU(inputs, weights, options), name);
      tf.dispose([x, output]);
      model.dispose();
    });
  }

  test('weights have Keras shapes', async () => {
    const model = await buildFromConfig([gruConfig()]);
    const layer = model.layers[0] as tf.layers.Layer;

    assert.equal(layer.getClassName(), 'GRU');
    assert.deepEqual(
      layer.weights.map((weight) => [weight.originalName.split('/').pop(), weight.shape]),
      [
        ['kernel', [INPUT_DIM, 3 * UNITS]],
        ['recurrent_kernel', [UNITS, 3 * UNITS]],
        ['bias', [2, 3 * UNITS]],
      ],
    );
    model.dispose();
  });

  test('return_state returns the last state', async () => {
    const weights = randomWeights(INPUT_DIM, 21);
    const input = tf.input({ shape: [STEPS, INPUT_DIM] });
    const layer = new KerasGRU({ name: 'gru_state', units: UNITS, resetAfter: true, returnState: true });
    const [output, state] = layer.apply(input) as tf.SymbolicTensor[];
    const model = tf.model({ inputs: input, outputs: [output as tf.SymbolicTensor, state as tf.SymbolicTensor] });
    setGRUWeights(layer, [weights]);

    const x = tf.tensor3d(inputs);
    const [actualOutput, actualState] = model.predict(x) as tf.Tensor[];
    const last = referenceGRU(inputs, weights, { goBackwards: false, activation: Math.tanh, recurrentActivation: sigmoid }).map(
      (states) => states[STEPS - 1] as number[],
    );
    assertClose(actualOutput as tf.Tensor, last, 'output');
    assertClose(actualState as tf.Tensor, last, 'state');
    tf.dispose([x, actualOutput as tf.Tensor, actualState as tf.Tensor]);
    model.dispose();
  });

  test('matches the equations in Bidirectional', async () => {
    const forward = randomWeights(INPUT_DIM, 31);
    const backward = randomWeights(INPUT_DIM, 41);
    const innerGRU = gruConfig();
    delete (innerGRU.config as Record<string, unknown>).batch_input_shape;
    const model = await buildFromConfig([
      {
        class_name: 'Bidirectional',
        config: {
          name: 'bidirectional',
          merge_mode: 'concat',
          batch_input_shape: [null, STEPS, INPUT_DIM],
          layer: innerGRU,
        },
      },
    ]);
    setGRUWeights(model.layers[0] as tf.layers.Layer, [forward, backward]);

    const options = { activation: Math.tanh, recurrentActivation: sigmoid };
    const forwardLast = referenceGRU(inputs, forward, { ...options, goBackwards: false }).map((states) => states[STEPS - 1] as number[]);
    const backwardLast = referenceGRU(inputs, backward, { ...options, goBackwards: true }).map((states) => states[STEPS - 1] as number[]);
    const x = tf.tensor3d(inputs);
    const output = model.predict(x) as tf.Tensor;
    assertClose(output, forwardLast.map((row, i) => [...row, ...(backwardLast[i] as number[])]), 'bidirectional');
    tf.dispose([x, output]);
    model.dispose();
  });

  test('ignores dropout at inference', async () => {
    const weights = randomWeights(INPUT_DIM, 51);
    const model = await buildFromConfig([gruConfig({ dropout: 0.5, recurrent_dropout: 0.5, return_sequences: true })]);
    setGRUWeights(model.layers[0] as tf.layers.Layer, [weights]);

    const x = tf.tensor3d(inputs);
    const output = model.predict(x) as tf.Tensor;
    assertClose(output, referenceGRU(inputs, weights, { goBackwards: false, activation: Math.tanh, recurrentActivation: sigmoid }), 'dropout');
    tf.dispose([x, output]);
    model.dispose();
  });

  test('gradients reach every weight', async () => {
    const model = await buildFromConfig([gruConfig()]);
    setGRUWeights(model.layers[0] as tf.layers.Layer, [randomWeights(INPUT_DIM, 61)]);
    const x = tf.tensor3d(inputs);

    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar);
    const layerWeights = (model.layers[0] as tf.layers.Layer).trainableWeights;
    assert.equal(layerWeights.length, 3);
    for (const weight of layerWeights) {
      const gradient = Object.entries(grads).find(([name]) => name === (weight.read() as tf.Variable).name)?.[1];
      assert.ok(gradient !== undefined, `no gradient for ${weight.originalName}`);
      assert.ok(tf.tidy(() => tf.max(tf.abs(gradient)).dataSync()[0] as number) > 0, `zero gradient for ${weight.originalName}`);
    }
    tf.dispose([x, value, ...Object.values(grads)]);
    model.dispose();
  });

  test('config round trip keeps reset_after', async () => {
    const weights = randomWeights(INPUT_DIM, 71);
    const model = await buildFromConfig([gruConfig()]);
    setGRUWeights(model.layers[0] as tf.layers.Layer, [weights]);
    const topology = model.toJSON(null, false) as tf.io.ModelJSON['modelTopology'];
    const copy = await tf.models.modelFromJSON({ modelTopology: topology });
    setGRUWeights(copy.layers[0] as tf.layers.Layer, [weights]);

    assert.equal((copy.layers[0] as tf.layers.Layer).getConfig().resetAfter, true);
    const x = tf.tensor3d(inputs);
    const output = copy.predict(x) as tf.Tensor;
    const expected = referenceGRU(inputs, weights, { goBackwards: false, activation: Math.tanh, recurrentActivation: sigmoid });
    assertClose(output, expected.map((states) => states[STEPS - 1] as number[]), 'copy');
    tf.dispose([x, output]);
    model.dispose();
    copy.dispose();
  });
});
