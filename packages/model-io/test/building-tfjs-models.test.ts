import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { isCentroidError } from '@centroid/contracts';

import { readKerasH5, readNpz, toLayersModel } from '../src/index.js';
import { translateModelConfig } from '../src/keras-h5/tfjs-config.js';
import { fixture, maxAbsoluteDifference } from './helpers.js';

import type { ErrorCode } from '@centroid/contracts';
import type { KerasModelConfig, KerasModelFile } from '../src/index.js';

/** Tolerance of TF.js predictions against the Keras predictions stored with each fixture. */
const TOLERANCE = 1e-5;

/**
 * Models whose Keras layers compute in float16, while TF.js computes in float32, so
 * their predictions differ by float16 rounding.
 */
const FLOAT16_COMPUTE_TOLERANCE = 1e-3;

async function predict(model: tf.LayersModel, name: string): Promise<{ actual: Float32Array; expected: Float32Array }> {
  const io = await readNpz(fixture(`${name}.io.npz`));
  const x = io.get('x');
  const y = io.get('y');
  assert.ok(x !== undefined, `${name}.io.npz has no array x`);
  assert.ok(y !== undefined, `${name}.io.npz has no array y`);

  const input = tf.tensor(x.data as Float32Array, x.shape);
  const output = model.predict(input) as tf.Tensor;
  const actual = (await output.data()) as Float32Array;
  tf.dispose([input, output]);
  return { actual, expected: y.data as Float32Array };
}

async function assertRejects(file: KerasModelFile, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(toLayersModel(file), (error: unknown) => {
    assert.ok(isCentroidError(error), `expected a CentroidError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('toLayersModel', () => {
  const cases: [string, number][] = [
    ['dense-adam', TOLERANCE],
    ['functional-cnn', TOLERANCE],
    ['tiny-cnn', TOLERANCE],
    ['separable', TOLERANCE],
    ['recurrent', TOLERANCE],
    ['nested', TOLERANCE],
    ['float64', TOLERANCE],
    ['keras3-sequential', TOLERANCE],
    ['keras3-functional', TOLERANCE],
    ['float16', FLOAT16_COMPUTE_TOLERANCE],
    ['mixed-precision', FLOAT16_COMPUTE_TOLERANCE],
    ['regularized', TOLERANCE],
  ];

  for (const [name, tolerance] of cases) {
    test(`predicts ${name} as Keras does`, async () => {
      const file = await readKerasH5(fixture(`${name}.h5`));
      const { model, bindings } = await toLayersModel(file);
      const { actual, expected } = await predict(model, name);
      model.dispose();

      assert.equal(bindings.length, file.weights.length);
      const difference = maxAbsoluteDifference(actual, expected);
      assert.ok(difference <= tolerance, `max difference ${difference} exceeds ${tolerance}`);
    });
  }

  test('matches the Keras regularization loss', async () => {
    const { regularizationLoss } = JSON.parse(await readFile(fixture('regularized.losses.json'), 'utf8')) as { regularizationLoss: number };
    const { model } = await toLayersModel(await readKerasH5(fixture('regularized.h5')));
    // Summed per layer, because the model's own calculateLosses returns no losses for a
    // Sequential model built by modelFromJSON in TF.js 4.22.
    const losses = model.layers.flatMap((layer) => layer.calculateLosses());
    const actual = tf.addN(losses).dataSync()[0] as number;
    tf.dispose(losses);
    model.dispose();

    // The two Dense layers have a kernel L2, a bias L1 and a kernel L1L2 penalty.
    assert.equal(losses.length, 3);
    assert.ok(Math.abs(actual - regularizationLoss) <= 1e-6, `TF.js loss ${actual}, Keras loss ${regularizationLoss}`);
  });

  test('binds each weight to its variable', async () => {
    const file = await readKerasH5(fixture('nested.h5'));
    const { model, bindings } = await toLayersModel(file);

    bindings.forEach((binding, index) => {
      assert.equal(binding.entry, file.weights[index]);
      assert.equal(binding.layer.name, binding.entry.layer);
      const variable = binding.layer.weights[binding.weightIndex] as tf.LayerVariable;
      assert.deepEqual(variable.shape, binding.entry.shape);
      assert.deepEqual(Array.from(variable.read().dataSync()), Array.from(binding.entry.values), binding.entry.datasetPath);
    });
    model.dispose();
  });

  test('leaves the file config unchanged', async () => {
    const file = await readKerasH5(fixture('separable.h5'));
    const before = JSON.stringify(file.modelConfig);
    const { model } = await toLayersModel(file);
    model.dispose();

    assert.equal(JSON.stringify(file.modelConfig), before);
  });
});

describe('toLayersModel bad input', () => {
  test('lists every unsupported layer', async () => {
    const file = await readKerasH5(fixture('unsupported.h5'));

    await assertRejects(file, 'MODEL_LAYER_UNSUPPORTED', /unsupported\.h5: 3 layer\(s\) cannot be built in TF\.js/);
    await assertRejects(file, 'MODEL_LAYER_UNSUPPORTED', /layer "grouped_conv" \(Conv2D\): grouped convolution with groups=2/);
    await assertRejects(file, 'MODEL_LAYER_UNSUPPORTED', /layer "leaky_relu" \(ReLU\): TF\.js ReLU ignores negative_slope/);
    await assertRejects(file, 'MODEL_LAYER_UNSUPPORTED', /layer "double" \(Lambda\): TF\.js has no layer of this class/);
    // The GRU with reset_after=True in this file is built by KerasGRU, so it is no longer listed.
    await assert.rejects(toLayersModel(file), (error: unknown) => isCentroidError(error) && !error.message.includes('gru_reset_after'));
  });

  test('lists unsupported layer arguments', async () => {
    const file = await readKerasH5(fixture('unsupported-arguments.h5'));

    await assertRejects(file, 'MODEL_LAYER_UNSUPPORTED', /unsupported-arguments\.h5: 2 layer\(s\) cannot be built in TF\.js/);
    await assertRejects(file, 'MODEL_LAYER_UNSUPPORTED', /layer "activity" \(Dense\): activity_regularizer L1L2 cannot be applied in TF\.js/);
    await assertRejects(
      file,
      'MODEL_LAYER_UNSUPPORTED',
      /layer "orthogonal" \(Dense\): kernel_regularizer OrthogonalRegularizer: TF\.js has no regularizer of this class/,
    );
  });

  test('rejects a weight shape mismatch', async () => {
    const file = await readKerasH5(fixture('tiny-cnn.h5'));
    const kernel = file.weights[0];
    assert.ok(kernel !== undefined);
    kernel.shape = [3, 3, 1, 2, 2];

    await assertRejects(
      file,
      'MODEL_WEIGHTS_MISMATCH',
      /weight "conv2d\/kernel:0" of layer "conv2d" should have shape \[3, 3, 1, 4\] according to the model config, but the file has shape \[3, 3, 1, 2, 2\]/,
    );
  });

  test('rejects a weight count mismatch', async () => {
    const file = await readKerasH5(fixture('tiny-cnn.h5'));
    file.weights = file.weights.filter((weight) => weight.name !== 'conv2d/bias:0');

    await assertRejects(file, 'MODEL_WEIGHTS_MISMATCH', /layer "conv2d" expects 2 weights \(conv2d\/kernel, conv2d\/bias\), but the file has 1/);
  });

  test('rejects weights of an unknown layer', async () => {
    const file = await readKerasH5(fixture('tiny-cnn.h5'));
    const denseLayer = file.weights.at(-1)?.layer;
    for (const weight of file.weights.filter((entry) => entry.layer === denseLayer)) {
      weight.layer = 'renamed';
    }

    await assertRejects(file, 'MODEL_WEIGHTS_MISMATCH', /weights for layer "renamed", but the model config has no layer of that name/);
  });

  test('rejects a layer without weights', async () => {
    const file = await readKerasH5(fixture('tiny-cnn.h5'));
    const denseLayer = file.weights.at(-1)?.layer;
    file.weights = file.weights.filter((weight) => weight.layer !== denseLayer);

    await assertRejects(file, 'MODEL_WEIGHTS_MISMATCH', new RegExp(`layer "${denseLayer}" has 2 weights in the model config, but the file has none`));
  });

  test('reports a config TF.js rejects', async () => {
    const file = await readKerasH5(fixture('small.h5'));
    const layers = (file.modelConfig.config as { layers: { class_name: string; config: Record<string, unknown> }[] }).layers;
    const dense = layers.find((layer) => layer.class_name === 'Dense');
    assert.ok(dense !== undefined);
    dense.config.activation = 'no_such_activation';

    await assertRejects(file, 'MODEL_LAYER_UNSUPPORTED', /small\.h5: TF\.js could not build the model from its model_config: Unknown activation: noSuchActivation/);
  });
});

describe('translateModelConfig', () => {
  test('maps dtype policies to float32', () => {
    const config: KerasModelConfig = {
      class_name: 'Sequential',
      config: {
        name: 'm',
        layers: [
          { class_name: 'InputLayer', config: { batch_input_shape: [null, 2], dtype: 'int64', name: 'in' } },
          {
            class_name: 'Dense',
            config: { name: 'd', units: 1, dtype: { class_name: 'Policy', config: { name: 'mixed_float16' } } },
          },
          { class_name: 'Dense', config: { name: 'e', units: 1, dtype: 'float64' } },
        ],
      },
    };
    const { topology, unsupported } = translateModelConfig(config);
    const layers = (topology.config as { layers: { config: { dtype: unknown } }[] }).layers;

    assert.deepEqual(unsupported, []);
    assert.deepEqual(
      layers.map((layer) => layer.config.dtype),
      ['int32', 'float32', 'float32'],
    );
  });

  test('rewrites Keras 3 graph nodes', () => {
    const tensor = (layer: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 4], keras_history: [layer, 0, 0] } });
    const config: KerasModelConfig = {
      class_name: 'Functional',
      config: {
        name: 'f',
        input_layers: ['in', 0, 0],
        output_layers: ['add', 0, 0],
        layers: [
          { class_name: 'InputLayer', name: 'in', config: { batch_shape: [null, 4], name: 'in', optional: false }, inbound_nodes: [] },
          {
            class_name: 'Add',
            name: 'add',
            config: { name: 'add' },
            inbound_nodes: [{ args: [[tensor('in'), tensor('in')]], kwargs: { training: false, mask: tensor('in') } }],
          },
        ],
      },
    };
    const { topology } = translateModelConfig(config);
    const translated = topology.config as {
      input_layers: unknown;
      output_layers: unknown;
      layers: { config: Record<string, unknown>; inbound_nodes: unknown }[];
    };

    assert.deepEqual(translated.input_layers, [['in', 0, 0]]);
    assert.deepEqual(translated.output_layers, [['add', 0, 0]]);
    assert.deepEqual(translated.layers[0]?.config, { batch_input_shape: [null, 4], name: 'in' });
    assert.deepEqual(translated.layers[1]?.inbound_nodes, [
      [
        ['in', 0, 0, { training: false }],
        ['in', 0, 0, { training: false }],
      ],
    ]);
  });

  test('drops unused SeparableConv2D keys', () => {
    const config: KerasModelConfig = {
      class_name: 'Sequential',
      config: {
        layers: [{ class_name: 'SeparableConv2D', config: { name: 's', kernel_initializer: {}, kernel_regularizer: null, filters: 2 } }],
      },
    };
    const { topology } = translateModelConfig(config);

    assert.deepEqual((topology.config as { layers: { config: unknown }[] }).layers[0]?.config, { name: 's', filters: 2 });
  });

  test('rewrites L1 and L2 as L1L2', () => {
    const regularizer = (className: string, config: Record<string, number>) => ({
      module: 'keras.regularizers',
      class_name: className,
      config,
      registered_name: null,
    });
    const config: KerasModelConfig = {
      class_name: 'Sequential',
      config: {
        layers: [
          {
            class_name: 'Dense',
            config: {
              name: 'd',
              units: 1,
              kernel_regularizer: regularizer('L2', { l2: 0.5 }),
              bias_regularizer: regularizer('L1', { l1: 0.25 }),
              activity_regularizer: null,
            },
          },
          { class_name: 'Dense', config: { name: 'e', units: 1, kernel_regularizer: regularizer('L1L2', { l1: 0.125 }) } },
        ],
      },
    };
    const { topology, unsupported } = translateModelConfig(config);
    const layers = (topology.config as { layers: { config: Record<string, unknown> }[] }).layers;

    assert.deepEqual(unsupported, []);
    assert.deepEqual(layers[0]?.config.kernel_regularizer, { class_name: 'L1L2', config: { l1: 0, l2: 0.5 } });
    assert.deepEqual(layers[0]?.config.bias_regularizer, { class_name: 'L1L2', config: { l1: 0.25, l2: 0 } });
    assert.equal(layers[0]?.config.activity_regularizer, null);
    assert.deepEqual(layers[1]?.config.kernel_regularizer, { class_name: 'L1L2', config: { l1: 0.125, l2: 0 } });
  });

  test('flags unknown constraints and initializers', () => {
    const config: KerasModelConfig = {
      class_name: 'Sequential',
      config: {
        layers: [
          {
            class_name: 'Conv2D',
            config: {
              name: 'c',
              filters: 1,
              kernel_size: [3, 3],
              kernel_constraint: { class_name: 'RadialConstraint', config: {} },
              kernel_initializer: { class_name: 'LecunNormal', config: { seed: null } },
              bias_initializer: { class_name: 'MyInitializer', config: {} },
            },
          },
        ],
      },
    };
    const { topology, unsupported } = translateModelConfig(config);
    const layer = (topology.config as { layers: { config: Record<string, unknown> }[] }).layers[0];

    assert.deepEqual(layer?.config.kernel_initializer, { class_name: 'LeCunNormal', config: { seed: null } });
    assert.deepEqual(unsupported, [
      {
        name: 'c',
        className: 'Conv2D',
        reason:
          'kernel_constraint RadialConstraint: TF.js has no constraint of this class; ' +
          'bias_initializer MyInitializer: TF.js has no initializer of this class',
      },
    ]);
  });

  test('flags bilinear upsampling', () => {
    const config: KerasModelConfig = {
      class_name: 'Sequential',
      config: { layers: [{ class_name: 'UpSampling2D', config: { name: 'up', interpolation: 'bilinear' } }] },
    };

    assert.deepEqual(
      translateModelConfig(config).unsupported.map((layer) => layer.name),
      ['up'],
    );
  });
});
