import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import {
  ensureMnistNpz,
  exampleModelFactsPath,
  exampleModelPath,
  fixturePath,
  pythonScriptPath,
  venvPythonPath,
} from '../src/index.js';

const run = promisify(execFile);
const python = venvPythonPath();
const skipWithoutVenv =
  python === undefined ? 'no .venv at the repository root; run packages/examples/python/setup-venv.sh' : false;
const pythonEnv = { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' };

interface InspectedDataset {
  path: string;
  shape: number[];
  dtype: string;
  distinct_values: number;
  sha256: string;
}

interface InspectedH5 {
  attributes: Record<string, unknown>;
  groups: Record<string, Record<string, unknown>>;
  datasets: InspectedDataset[];
}

interface FixturePredictions {
  'dense-mlp.h5': { inputs: number[][]; outputs: number[][] };
  'tiny-cnn.h5': { inputs: number[][][][]; outputs: number[][]; test_accuracy: number };
}

async function runPython(script: string, args: string[]): Promise<string> {
  const { stdout } = await run(python!, [pythonScriptPath(script), ...args], {
    env: pythonEnv,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

async function inspectH5(path: string): Promise<InspectedH5> {
  return JSON.parse(await runPython('inspect_h5.py', [path])) as InspectedH5;
}

// Reads a float32 .npy file with numpy and returns it as nested lists.
async function loadNpy(path: string): Promise<number[][]> {
  const script = 'import json, sys, numpy as np; a = np.load(sys.argv[1]); print(json.dumps([str(a.dtype), a.tolist()]))';
  const { stdout } = await run(python!, ['-c', script, path], { env: pythonEnv, maxBuffer: 64 * 1024 * 1024 });
  const [dtype, values] = JSON.parse(stdout) as [string, number[][]];
  assert.equal(dtype, 'float32', `${path} dtype`);
  return values;
}

function argmax(row: number[]): number {
  let best = 0;
  for (let index = 1; index < row.length; index++) {
    if (row[index]! > row[best]!) {
      best = index;
    }
  }
  return best;
}

describe('fixtures', () => {
  it('stay under 100 KB each', async () => {
    for (const name of ['dense-mlp.h5', 'tiny-cnn.h5', 'tiny-cnn.npz', 'predictions.json']) {
      const { size } = await stat(fixturePath(name));
      assert.ok(size < 100_000, `${name} is ${size} bytes`);
    }
  });

  it('list predictions for each model', async () => {
    const predictions = JSON.parse(await readFile(fixturePath('predictions.json'), 'utf8')) as FixturePredictions;
    assert.equal(predictions['dense-mlp.h5'].inputs.length, 4);
    assert.equal(predictions['dense-mlp.h5'].outputs.length, 4);
    assert.equal(predictions['dense-mlp.h5'].outputs[0]!.length, 3);
    assert.equal(predictions['tiny-cnn.h5'].inputs.length, 8);
    assert.equal(predictions['tiny-cnn.h5'].outputs.length, 8);
    assert.equal(predictions['tiny-cnn.h5'].outputs[0]!.length, 5);
  });
});

describe('inspect_h5.py', { skip: skipWithoutVenv }, () => {
  it('lists weights and optimizer state', async () => {
    const inspected = await inspectH5(fixturePath('dense-mlp.h5'));
    assert.equal(inspected.attributes.keras_version, '2.18.0');
    assert.equal(typeof inspected.attributes.model_config, 'string');
    assert.deepEqual(inspected.groups.model_weights?.layer_names, ['dense', 'dense_1']);

    const kernel = inspected.datasets.find((dataset) => dataset.path === 'model_weights/dense/dense/kernel:0');
    assert.ok(kernel, 'dense kernel is listed');
    assert.deepEqual(kernel.shape, [8, 16]);
    assert.equal(kernel.dtype, 'float32');
    assert.equal(kernel.distinct_values, 128);
    assert.match(kernel.sha256, /^[0-9a-f]{64}$/);

    const optimizerDatasets = inspected.datasets.filter((dataset) => dataset.path.startsWith('optimizer_weights/'));
    assert.ok(optimizerDatasets.length > 0, 'optimizer_weights datasets are listed');
  });

  it('omits optimizer state for the example model', async () => {
    const inspected = await inspectH5(exampleModelPath());
    const paths = inspected.datasets.map((dataset) => dataset.path);
    assert.equal(paths.filter((path) => path.startsWith('optimizer_weights/')).length, 0);
    assert.equal(paths.length, 8, 'kernel and bias of four layers');

    const facts = JSON.parse(await readFile(exampleModelFactsPath(), 'utf8')) as { parameters: number };
    const parameters = inspected.datasets.reduce(
      (total, dataset) => total + dataset.shape.reduce((product, size) => product * size, 1),
      0,
    );
    assert.equal(parameters, facts.parameters);
  });
});

describe('predict.py', { skip: skipWithoutVenv }, () => {
  let dir = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'centroid-predict-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reproduces fixture predictions', async () => {
    const output = join(dir, 'tiny-cnn.npy');
    await runPython('predict.py', [fixturePath('tiny-cnn.h5'), fixturePath('tiny-cnn.npz'), 'x_test', '1', '8', output]);

    const predicted = await loadNpy(output);
    const expected = (JSON.parse(await readFile(fixturePath('predictions.json'), 'utf8')) as FixturePredictions)[
      'tiny-cnn.h5'
    ].outputs;
    assert.equal(predicted.length, 8);
    for (const [row, values] of predicted.entries()) {
      for (const [column, value] of values.entries()) {
        const reference = expected[row]![column]!;
        assert.ok(Math.abs(value - reference) < 1e-6, `row ${row} column ${column}: ${value} vs ${reference}`);
      }
    }
  });

  it('classifies MNIST with the example model', async () => {
    const npz = await ensureMnistNpz(dir);
    const output = join(dir, 'mnist.npy');
    await runPython('predict.py', [exampleModelPath(), npz, 'x_test', '1/255', '1000', output]);

    const predicted = await loadNpy(output);
    assert.equal(predicted.length, 1000);
    const labels = await run(
      python!,
      ['-c', 'import sys, numpy as np; print(" ".join(map(str, np.load(sys.argv[1])["y_test"][:1000])))', npz],
      { env: pythonEnv },
    );
    const expected = labels.stdout.trim().split(' ').map(Number);
    const correct = predicted.filter((row, index) => argmax(row) === expected[index]).length;
    // Keras gets 990 of the first 1,000 right (0.9906 on all 10,000), so 970 leaves room for float noise.
    assert.ok(correct >= 970, `${correct} of 1000 correct`);
  });

  it('rejects a missing array name', async () => {
    await assert.rejects(
      runPython('predict.py', [fixturePath('tiny-cnn.h5'), fixturePath('tiny-cnn.npz'), 'x_nope', '1', '8', join(dir, 'x.npy')]),
      /array 'x_nope' not found/,
    );
  });
});
