// Runs the same small clustering job on the pure-JavaScript and the native TensorFlow
// backends and compares the results. A process can use only one backend, so each run is a
// child process of this file with CENTROID_BACKEND set; the child runs `runWorkload`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend.js';
import { ClusteringSession, type ClusterTarget } from '../src/clustering-session.js';
import { evaluate } from '../src/evaluate.js';
import { fineTune } from '../src/fine-tune.js';
import { stripClustering } from '../src/strip-clustering.js';
import { CATEGORICAL, classificationData, convClassifier, weightValues } from './fixtures.js';

const CHILD_FLAG = 'CENTROID_NATIVE_BACKEND_TEST_CHILD';
const testFile = fileURLToPath(import.meta.url);
const engineRoot = path.resolve(path.dirname(testFile), '..');

interface WorkloadResult {
  backend: string;
  initialWeights: number[][];
  epochLosses: number[];
  centroids: number[][];
  strippedWeights: number[][];
  evaluationLoss: number;
}

/** Clusters, fine-tunes, strips and evaluates a seeded Conv2D classifier on the backend CENTROID_BACKEND names. */
async function runWorkload(): Promise<WorkloadResult> {
  const backend = await selectBackend();
  const model = convClassifier(7);
  const data = classificationData(96, [6, 6, 1], 2, 7);
  const initialWeights = weightValues(model).map((values) => Array.from(values));

  const targets: ClusterTarget[] = model.layers
    .filter((layer) => layer.weights.length > 0)
    .map((layer) => ({ layer, weightIndex: 0, numberOfClusters: 6 }));
  const session = ClusteringSession.start(model, targets, { method: 'linear', seed: 0 });
  const training = await fineTune(session, data, { epochs: 2, batchSize: 16, learningRate: 0.01, seed: 3, loss: CATEGORICAL });
  const centroids = targets.map((target) => Array.from(session.centroids(target).sort()));
  stripClustering(session);
  const evaluation = await evaluate(model, data.x, data.y, CATEGORICAL, 32);

  return {
    backend: backend.name,
    initialWeights,
    epochLosses: training.epochs.map((epoch) => epoch.loss),
    centroids,
    strippedWeights: weightValues(model).map((values) => Array.from(values)),
    evaluationLoss: evaluation.loss,
  };
}

/** Runs `runWorkload` in a child process on `backend` and returns its result. */
async function runOnBackend(backend: 'cpu' | 'tensorflow'): Promise<WorkloadResult> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', testFile], {
    cwd: engineRoot,
    env: { ...process.env, [CHILD_FLAG]: '1', CENTROID_BACKEND: backend, TF_CPP_MIN_LOG_LEVEL: '2' },
    timeout: 120_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  // libtensorflow logs to stderr, so stdout contains only the result.
  return JSON.parse(stdout) as WorkloadResult;
}

/** Returns why the native backend cannot run here, or null when @tensorflow/tfjs-node and its built binding are present. */
function nativeBackendMissingReason(): string | null {
  const engineRequire = createRequire(path.join(engineRoot, 'package.json'));
  let packageJson: string;
  try {
    packageJson = engineRequire.resolve('@tensorflow/tfjs-node/package.json');
  } catch {
    return '@tensorflow/tfjs-node is not installed in packages/engine; run pnpm setup:native';
  }

  const packageRequire = createRequire(packageJson);
  const nodePreGyp = packageRequire('@mapbox/node-pre-gyp') as { find: (packageJsonPath: string) => string };
  const binding = nodePreGyp.find(packageJson);
  return existsSync(binding) ? null : `the tfjs-node binding ${binding} is not built; run pnpm setup:native`;
}

function assertClose(actual: number, expected: number, tolerance: number, label: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${label}: tensorflow ${actual}, cpu ${expected}, tolerance ${tolerance}`);
}

function assertAllClose(actual: number[][], expected: number[][], tolerance: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: tensor count`);
  actual.forEach((values, tensor) => {
    const reference = expected[tensor] as number[];
    assert.equal(values.length, reference.length, `${label} ${tensor}: element count`);
    values.forEach((value, index) => assertClose(value, reference[index] as number, tolerance, `${label} ${tensor}[${index}]`));
  });
}

if (process.env[CHILD_FLAG] === '1') {
  process.stdout.write(JSON.stringify(await runWorkload()));
  tf.disposeVariables();
} else {
  const skipReason = nativeBackendMissingReason();

  describe('native TensorFlow backend', () => {
    it('matches the cpu backend', { skip: skipReason ?? false, timeout: 240_000 }, async () => {
      const cpu = await runOnBackend('cpu');
      const native = await runOnBackend('tensorflow');

      assert.equal(cpu.backend, 'cpu');
      assert.equal(native.backend, 'tensorflow');
      // Seeded initialisers run in JavaScript on every backend, so both start alike.
      assert.deepEqual(native.initialWeights, cpu.initialWeights);

      // The backends sum float32 values in different orders; on this job they differ by
      // about 3e-8.
      assert.equal(native.epochLosses.length, 2);
      native.epochLosses.forEach((loss, epoch) => assertClose(loss, cpu.epochLosses[epoch] as number, 1e-5, `epoch ${epoch + 1} loss`));
      assertAllClose(native.centroids, cpu.centroids, 1e-5, 'centroids');
      assertAllClose(native.strippedWeights, cpu.strippedWeights, 1e-5, 'stripped weights');
      assertClose(native.evaluationLoss, cpu.evaluationLoss, 1e-5, 'evaluation loss');

      // Stripping leaves at most 6 distinct values in each clustered kernel.
      for (const tensor of [0, 2]) {
        const distinct = new Set(native.strippedWeights[tensor]).size;
        assert.ok(distinct <= 6, `kernel ${tensor} has ${distinct} distinct values after stripping`);
      }
    });
  });
}
