// Runs the pipeline, data-free, over every model of the Keras 2 and Keras 3 fixture set
// (packages/examples/fixtures/formats, written by make_format_fixtures.py) in every
// format that model-io reads, and compares the results with the tool that wrote the
// fixture: Keras for .h5 and .keras, TF.js for TF.js layers models.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { isCentroidError, type ErrorCode } from '@centroid/contracts';
import { fixturePath, pythonScriptPath, venvPythonPath } from '@centroid/examples';
import {
  MODEL_ARTIFACT_NAMES,
  readModel,
  toLayersModel,
  writeModel,
  type ModelFile,
  type ModelFormat,
  type TfjsModelFile,
  type WeightEntry,
} from '@centroid/model-io';
import { runPipeline } from '../src/index.js';
import { bitsOf, pipelineInput } from './helpers.js';

const run = promisify(execFile);
const python = venvPythonPath();
const pythonSkip = python === undefined ? 'no .venv at the repository root; run pnpm setup:python' : false;

const CLUSTERS = 8;
const TOLERANCE = 1e-4;
/**
 * Keras computes float16 layers in float16 and TF.js in float32, so their outputs differ
 * by float16 rounding, which grows with the output's magnitude. The allowed difference
 * is this times max(1, |Keras output|), four float16 units in the last place at 1.
 */
const FLOAT16_RELATIVE_TOLERANCE = 4e-3;
/** Fixtures clustered at the same time; the pipeline reads and writes HDF5 in child processes. */
const CONCURRENCY = 2;

type FixtureFormat = 'h5' | 'keras' | 'tfjs_layers';

interface ManifestEntry {
  file: string;
  keras: 2 | 3;
  keras_version: string;
  format: FixtureFormat;
  model: string;
  input_shape: (number | null)[];
  input_dtype: string;
  optimizer_state: boolean;
  predictions: string;
  reload_failure: string | null;
}

interface Manifest {
  fixtures: ManifestEntry[];
  not_written: { keras: number; model: string; format: string; reason: string }[];
}

interface ReferencePredictions {
  inputs: unknown[];
  outputs: unknown[];
}

/** Every model kind that make_format_fixtures.py builds; Keras 3 rejects the "/" of slash-names. */
const MODEL_KINDS = [
  'branches',
  'nested-sequential',
  'batch-norm',
  'slash-names',
  'built-twice',
  'with-optimizer',
  'no-weights',
  'embedding-conv1d',
  'lstm',
  'gru',
  'gru-reset-before',
  'bidirectional-lstm',
  'mobilenet-block',
  'time-distributed',
  'float16',
];
const KERAS2_FORMATS: FixtureFormat[] = ['h5', 'tfjs_layers'];
const KERAS3_FORMATS: FixtureFormat[] = ['h5', 'keras', 'tfjs_layers'];

/** The model-io format of each fixture format. */
const MODEL_IO_FORMATS: Record<FixtureFormat, ModelFormat> = { h5: 'keras_h5', keras: 'keras', tfjs_layers: 'tfjs' };

/** Models that the loader rejects on purpose, with the code it raises and a pattern of its message. */
const EXPECTED_REJECTIONS: Record<string, { code: ErrorCode; message: RegExp }> = {};

/**
 * TF.js fixtures that TF.js 4.22 loads but cannot predict with, before and after clustering,
 * with a pattern of its error. The writer keeps their model.json as it is, because TF.js
 * loads it.
 */
const TFJS_PREDICT_FAILURES: Record<string, { reason: string; error: RegExp }> = {
  'keras2/float16.tfjs/model.json': {
    reason: 'its InputLayer is float16 and TF.js 4.22 does not cast a float32 input to float16',
    error: /can not be cast to the dtype of the key '[^']+' \(float16\)/,
  },
};

const formatsDir = path.dirname(fixturePath('formats/manifest.json'));
const manifest = JSON.parse(await readFile(fixturePath('formats/manifest.json'), 'utf8')) as Manifest;

/** Returns the largest difference between engine and Keras outputs, scaled for float16 models. */
function maxDifference(entry: ManifestEntry, actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length, 'output sizes differ');
  const float16 = entry.model === 'float16';
  let largest = 0;
  for (let i = 0; i < actual.length; i++) {
    const difference = Math.abs(actual[i]! - expected[i]!);
    largest = Math.max(largest, float16 ? difference / Math.max(1, Math.abs(expected[i]!)) : difference);
  }
  return largest;
}

function assertClose(entry: ManifestEntry, actual: Float32Array, expected: Float32Array): void {
  const tolerance = entry.model === 'float16' ? FLOAT16_RELATIVE_TOLERANCE : TOLERANCE;
  const difference = maxDifference(entry, actual, expected);
  assert.ok(difference <= tolerance, `largest difference ${difference}, tolerance ${tolerance}`);
}

/** Runs `work` on every item, at most `limit` at a time, and returns the results in order. */
async function mapConcurrently<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  });
  await Promise.all(workers);
  return results;
}

function flatten(values: unknown[]): Float32Array {
  return Float32Array.from(values.flat(Infinity) as number[]);
}

async function readReference(entry: ManifestEntry): Promise<ReferencePredictions> {
  return JSON.parse(await readFile(path.join(formatsDir, entry.predictions), 'utf8')) as ReferencePredictions;
}

/** Builds the model in TF.js and predicts the recorded inputs; the model is disposed afterwards. */
async function predictWithEngine(file: ModelFile, reference: ReferencePredictions, inputDtype: string): Promise<Float32Array> {
  const { model } = await toLayersModel(file);
  try {
    const inputShape = [reference.inputs.length, ...model.inputs[0]!.shape.slice(1)] as number[];
    const dtype = inputDtype.startsWith('int') ? 'int32' : 'float32';
    const x = tf.tensor(flatten(reference.inputs), inputShape, dtype);
    const y = model.predict(x) as tf.Tensor;
    const values = (await y.data()) as Float32Array;
    tf.dispose([x, y]);
    return values;
  } finally {
    model.dispose();
  }
}

/** A fixture clustered and written back by the pipeline, or the error that stopped it. */
interface ClusteredFixture {
  error: unknown;
  outputPath: string | null;
  output: ModelFile | null;
  /** Report names (`<layer>/<weight>`) of every weight that the pipeline reports as clustered. */
  clusteredWeights: Set<string>;
  enginePredictions: Float32Array | null;
  /** Codes of the warnings in the pipeline's metrics. */
  warningCodes: string[];
}

/**
 * Returns the name that the layer report gives each weight of `file`, by dataset path: the
 * name of the TF.js variable bound to it, which the file stores differently by format.
 */
async function reportWeightNames(file: ModelFile): Promise<Map<string, string>> {
  const { model, bindings } = await toLayersModel(file);
  try {
    return new Map(bindings.map((binding) => [binding.entry.datasetPath, binding.layer.weights[binding.weightIndex]!.originalName]));
  } finally {
    model.dispose();
  }
}

/**
 * Runs the pipeline on one fixture without a dataset, so every weight it selects by
 * default is clustered into `CLUSTERS` linear centroids and the model is written back in
 * its own format. Then reads the file written and predicts the recorded inputs with it.
 */
async function clusterFixture(entry: ManifestEntry, outDir: string): Promise<ClusteredFixture> {
  try {
    const result = await runPipeline(
      pipelineInput(path.join(formatsDir, entry.file), null, outDir, { number_of_clusters: CLUSTERS, cluster_centroids_init: 'linear' }),
    );
    const modelNames = new Set(Object.values(MODEL_ARTIFACT_NAMES));
    const artifact = result.artifacts.find((candidate) => modelNames.has(candidate.name));
    assert.ok(artifact, `the pipeline wrote no model: ${result.artifacts.map((candidate) => candidate.name).join(', ')}`);
    assert.equal(artifact.name, MODEL_ARTIFACT_NAMES[MODEL_IO_FORMATS[entry.format]]);

    const output = await readModel(artifact.path);
    const enginePredictions = await predictWithEngine(output, await readReference(entry), entry.input_dtype);
    const clusteredWeights = new Set(
      result.metrics.layers.filter((layer) => layer.clustered).map((layer) => layer.weight),
    );
    const warningCodes = result.metrics.warnings.map((warning) => warning.code);
    return { error: null, outputPath: artifact.path, output, clusteredWeights, enginePredictions, warningCodes };
  } catch (error) {
    return { error, outputPath: null, output: null, clusteredWeights: new Set(), enginePredictions: null, warningCodes: [] };
  }
}

/**
 * Loads a TF.js layers model with TF.js' own deserializer, from its model.json topology as
 * written and its weights as model-io decoded them, and predicts the recorded inputs.
 * Returns the error instead when TF.js cannot load the model or predict with it.
 */
async function predictWithTfjs(file: TfjsModelFile, reference: ReferencePredictions, inputDtype: string): Promise<Float32Array | Error> {
  const weightSpecs = file.weights.map((weight) => ({ name: weight.datasetPath, shape: weight.shape, dtype: 'float32' as const }));
  const weightData = new Float32Array(file.weights.reduce((total, weight) => total + weight.values.length, 0));
  let offset = 0;
  for (const weight of file.weights) {
    weightData.set(weight.values, offset);
    offset += weight.values.length;
  }
  const topology = file.modelJson.modelTopology as tf.io.ModelArtifacts['modelTopology'];

  let model: tf.LayersModel | null = null;
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: topology, weightSpecs, weightData: weightData.buffer }));
    const inputShape = [reference.inputs.length, ...model.inputs[0]!.shape.slice(1)] as number[];
    const x = tf.tensor(flatten(reference.inputs), inputShape, inputDtype.startsWith('int') ? 'int32' : 'float32');
    try {
      const y = model.predict(x) as tf.Tensor;
      const values = (await y.data()) as Float32Array;
      y.dispose();
      return values;
    } finally {
      x.dispose();
    }
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  } finally {
    model?.dispose();
  }
}

interface KerasPrediction {
  model: string;
  outputs?: unknown[];
  error?: string;
}

/** Predicts with every written file in one Python process, in the Keras that wrote each fixture. */
async function predictWithKeras(
  requests: { entry: ManifestEntry; outputPath: string }[],
  scratchDir: string,
): Promise<Map<string, KerasPrediction>> {
  const body = await Promise.all(
    requests.map(async ({ entry, outputPath }) => ({
      model: outputPath,
      keras: entry.keras,
      inputs: (await readReference(entry)).inputs,
      input_dtype: entry.input_dtype,
    })),
  );
  const requestsPath = path.join(scratchDir, 'keras-requests.json');
  await writeFile(requestsPath, JSON.stringify(body));
  const { stdout } = await run(python!, [pythonScriptPath('predict.py'), '--requests', requestsPath], {
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
    maxBuffer: 64 << 20,
  });
  const predictions = JSON.parse(stdout) as KerasPrediction[];
  return new Map(predictions.map((prediction) => [prediction.model, prediction]));
}

/**
 * Returns whether the writer rewrites the fixture's topology for TF.js: every TF.js model
 * that the converter wrote from a Keras 3 model has a Keras 3 topology.
 */
function rewritesTopology(entry: ManifestEntry): boolean {
  return entry.format === 'tfjs_layers' && entry.keras === 3;
}

function assertExpectedRejection(entry: ManifestEntry, error: unknown): void {
  const expected = EXPECTED_REJECTIONS[entry.model]!;
  assert.ok(isCentroidError(error), `expected a CentroidError, got ${String(error)}`);
  assert.equal(error.code, expected.code, error.message);
  assert.match(error.message, expected.message);
}

describe('format fixtures', () => {
  const originals = new Map<ManifestEntry, Promise<ModelFile>>();
  const clustered = new Map<ManifestEntry, ClusteredFixture>();
  let kerasPredictions = new Map<string, KerasPrediction>();
  let scratchDir = '';

  before(async () => {
    scratchDir = await mkdtemp(path.join(os.tmpdir(), 'centroid-format-fixtures-'));
    await mapConcurrently(manifest.fixtures, CONCURRENCY, async (entry, index) => {
      const original = readModel(path.join(formatsDir, entry.file));
      // Each test awaits the promise, so a read error fails that test; this keeps it from being unhandled meanwhile.
      original.catch(() => undefined);
      originals.set(entry, original);
      await original.catch(() => undefined);
      clustered.set(entry, await clusterFixture(entry, path.join(scratchDir, String(index))));
    });
    if (python !== undefined) {
      const requests = manifest.fixtures.filter((entry) => entry.format !== 'tfjs_layers').flatMap((entry) => {
        const outputPath = clustered.get(entry)?.outputPath;
        return outputPath == null ? [] : [{ entry, outputPath }];
      });
      kerasPredictions = await predictWithKeras(requests, scratchDir);
    }
  });

  /** Returns the fixture's clustered result, or raises the error that stopped it. */
  function clusteredResult(entry: ManifestEntry): ClusteredFixture {
    const result = clustered.get(entry);
    assert.ok(result, `${entry.file} was not clustered`);
    if (result.error !== null) throw result.error;
    return result;
  }

  after(async () => {
    if (scratchDir !== '') await rm(scratchDir, { recursive: true, force: true });
  });

  it('manifest files exist', async () => {
    assert.ok(manifest.fixtures.length > 0);
    for (const entry of manifest.fixtures) {
      await readFile(path.join(formatsDir, entry.file));
      await readFile(path.join(formatsDir, entry.predictions));
    }
  });

  it('manifest covers every model and format', () => {
    const listed = new Set(manifest.fixtures.map((entry) => `${entry.keras} ${entry.model} ${entry.format}`));
    for (const model of MODEL_KINDS) {
      for (const [keras, formats] of [[2, KERAS2_FORMATS], [3, KERAS3_FORMATS]] as const) {
        if (keras === 3 && model === 'slash-names') continue;
        for (const format of formats) {
          assert.ok(listed.has(`${keras} ${model} ${format}`), `manifest.json has no Keras ${keras} ${model} as ${format}`);
        }
      }
    }
  });

  for (const [index, entry] of manifest.fixtures.entries()) {
    const label = `${entry.file} (Keras ${entry.keras_version})`;
    const rejection = EXPECTED_REJECTIONS[entry.model];

    if (rejection !== undefined) {
      it(`${label} is rejected with ${rejection.code}`, async () => {
        const error = await originals.get(entry)!.then(toLayersModel).then(
          ({ model }) => {
            model.dispose();
            return null;
          },
          (caught: unknown) => caught,
        );
        assertExpectedRejection(entry, error);
        assertExpectedRejection(entry, clustered.get(entry)?.error);
      });
      continue;
    }

    it(`${label} predicts the Keras reference`, async () => {
      const reference = await readReference(entry);
      const predictions = await predictWithEngine(await originals.get(entry)!, reference, entry.input_dtype);

      assertClose(entry, predictions, flatten(reference.outputs));
    });

    it(`${label} keeps unclustered tensors bit-identical`, async () => {
      const before = await originals.get(entry)!;
      const result = clusteredResult(entry);
      const written = result.output!;
      const reportNames = await reportWeightNames(before);
      // The writer names the weights of a rewritten Keras 3 model.json as TF.js names its variables.
      const writtenPath = (original: WeightEntry) => (rewritesTopology(entry) ? reportNames.get(original.datasetPath)! : original.datasetPath);

      assert.deepEqual(
        written.weights.map((weight) => weight.datasetPath).sort(),
        before.weights.map(writtenPath).sort(),
      );
      const writtenByPath = new Map<string, WeightEntry>(written.weights.map((weight) => [weight.datasetPath, weight]));
      for (const original of before.weights) {
        const output = writtenByPath.get(writtenPath(original))!;
        assert.equal(output.dtype, original.dtype, `${original.datasetPath} changed dtype`);
        if (result.clusteredWeights.has(reportNames.get(original.datasetPath) ?? '')) {
          const distinct = new Set(bitsOf(output.values)).size;
          assert.ok(distinct <= CLUSTERS, `${original.datasetPath} has ${distinct} distinct values`);
        } else {
          assert.deepEqual(bitsOf(output.values), bitsOf(original.values), `${original.datasetPath} changed`);
        }
      }
      if (entry.model !== 'no-weights') assert.ok(result.clusteredWeights.size > 0, 'no weight was clustered');
      // A .keras archive keeps its optimizer variables (warning OPTIMIZER_STATE_KEPT); the other formats drop them.
      assert.equal(written.hasOptimizerState, entry.format === 'keras' && before.hasOptimizerState);
    });

    if (entry.format === 'tfjs_layers') {
      it(`${label} output loads in TF.js like the original`, async () => {
        const reference = await readReference(entry);
        const before = (await originals.get(entry)!) as TfjsModelFile;
        const result = clusteredResult(entry);
        const originalPredictions = await predictWithTfjs(before, reference, entry.input_dtype);
        const outputPredictions = await predictWithTfjs(result.output as TfjsModelFile, reference, entry.input_dtype);

        const failure = TFJS_PREDICT_FAILURES[entry.file];
        if (failure !== undefined) {
          for (const [which, predictions] of [['original', originalPredictions], ['output', outputPredictions]] as const) {
            assert.ok(predictions instanceof Error, `TF.js predicts with the ${which}, though ${failure.reason}`);
            assert.match(predictions.message, failure.error, `the ${which} fails for another reason than that ${failure.reason}`);
          }
          return;
        }
        if (rewritesTopology(entry)) {
          assert.ok(originalPredictions instanceof Error, 'TF.js 4.22 loads the Keras 3 topology of the original as written');
          assert.ok(result.warningCodes.includes('TFJS_TOPOLOGY_REWRITTEN'), `warnings: ${result.warningCodes.join(', ')}`);
        } else {
          assert.ok(!(originalPredictions instanceof Error), `TF.js cannot run the original: ${String(originalPredictions)}`);
          assert.ok(!result.warningCodes.includes('TFJS_TOPOLOGY_REWRITTEN'), 'the writer rewrote a topology that TF.js loads');
        }
        assert.ok(!(outputPredictions instanceof Error), `TF.js cannot run the output: ${String(outputPredictions)}`);
        assertClose(entry, result.enginePredictions!, outputPredictions);
      });
      continue;
    }

    it(`${label} output predicts alike in Keras`, { skip: pythonSkip }, () => {
      const result = clusteredResult(entry);
      const keras = kerasPredictions.get(result.outputPath!);
      assert.ok(keras, `no Keras prediction for ${result.outputPath}`);
      assert.equal(keras.error, undefined, `Keras failed on the clustered ${entry.file}: ${keras.error}`);

      assertClose(entry, result.enginePredictions!, flatten(keras.outputs!));
    });

    it(`${label} converted to TF.js predicts the reference`, async () => {
      const reference = await readReference(entry);
      const convertedPath = path.join(scratchDir, `converted-${index}.tfjs.zip`);
      await writeModel(await originals.get(entry)!, 'tfjs', convertedPath, new Map());
      const predictions = await predictWithTfjs((await readModel(convertedPath)) as TfjsModelFile, reference, entry.input_dtype);

      assert.ok(!(predictions instanceof Error), `TF.js cannot run the converted model: ${String(predictions)}`);
      assertClose(entry, predictions, flatten(reference.outputs));
    });
  }
});
