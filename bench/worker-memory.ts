// Resident memory over many jobs in one process: runs the example MNIST CNN through
// `runPipeline` 30 times (`--quick`: 10) on a small MNIST subset, on the backend that
// `selectBackend` picks, and records RSS and live TensorFlow.js tensors after each job.
// The verdict is whether RSS stops growing: its growth over the second half of the
// jobs must stay below MAX_SECOND_HALF_GROWTH_MIB, and the live tensors must not grow
// after the first job. Writes bench/results/worker-memory.json and worker-memory.md.
//
// The worker runs each job's pipeline in a child process of its own, so this bench shows
// what one long-lived pipeline process would do, a stricter case than the worker's.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as TF from '../packages/engine/node_modules/@tensorflow/tfjs/dist/index.js';
import { JobParamsSchema } from '../packages/contracts/src/index.js';
import { selectBackend } from '../packages/engine/src/index.js';
import { encodeNpz, loadMnist, type IdxArray } from '../packages/examples/src/index.js';
import { runPipeline } from '../packages/pipeline/src/index.js';

// The engine's own copy of TensorFlow.js, whose tensors the pipeline allocates.
const tf = createRequire(path.resolve(import.meta.dirname, '../packages/engine/package.json'))('@tensorflow/tfjs') as typeof TF;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MODEL_PATH = path.join(ROOT, 'packages/examples/models/mnist-cnn.h5');
const RESULTS_DIRECTORY = path.join(ROOT, 'bench/results');

const FULL_JOBS = 30;
const QUICK_JOBS = 10;
const TRAIN_SAMPLES = 2000;
const TEST_SAMPLES = 1000;
/** RSS may grow at most this much from the middle job to the last one. */
const MAX_SECOND_HALF_GROWTH_MIB = 32;

interface JobSample {
  job: number;
  wall_ms: number;
  rss_bytes: number;
  heap_used_bytes: number;
  external_bytes: number;
  array_buffers_bytes: number;
  tensors: number;
  tensor_bytes: number;
}

const params = JobParamsSchema.parse({
  number_of_clusters: 14,
  cluster_centroids_init: 'linear',
  fine_tune: { epochs: 1, batch_size: 250, learning_rate: 1e-5 },
  dataset: { input_scale: 1 / 255 },
});

if (typeof (globalThis as { gc?: () => void }).gc !== 'function') {
  // A full GC before each reading keeps garbage that is merely uncollected out of the
  // figures, so the bench starts itself again with the flag that exposes it.
  const result = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exitCode = result.status ?? 1;
} else {
  await main(process.argv.includes('--quick'));
}

async function main(quick: boolean): Promise<void> {
  const jobs = quick ? QUICK_JOBS : FULL_JOBS;
  const backend = await selectBackend();
  const workDirectory = mkdtempSync(path.join(os.tmpdir(), 'centroid-worker-memory-'));
  const loadAverageBefore = roundedLoadAverage();
  const startedAt = performance.now();
  const samples: JobSample[] = [];

  try {
    const datasetPath = path.join(workDirectory, 'mnist-subset.npz');
    await writeMnistSubset(datasetPath);
    const collectGarbage = (globalThis as unknown as { gc: () => void }).gc;

    for (let job = 1; job <= jobs; job++) {
      const outDir = path.join(workDirectory, `job-${job}`);
      const jobStartedAt = performance.now();
      await runPipeline({
        modelPath: MODEL_PATH,
        modelFilename: path.basename(MODEL_PATH),
        datasetPath,
        datasetFilename: path.basename(datasetPath),
        params,
        outDir,
      });
      const wallMs = performance.now() - jobStartedAt;
      rmSync(outDir, { recursive: true, force: true });

      collectGarbage();
      const usage = process.memoryUsage();
      const memory = tf.memory();
      samples.push({
        job,
        wall_ms: Math.round(wallMs),
        rss_bytes: usage.rss,
        heap_used_bytes: usage.heapUsed,
        external_bytes: usage.external,
        array_buffers_bytes: usage.arrayBuffers,
        tensors: memory.numTensors,
        tensor_bytes: memory.numBytes,
      });
      console.log(`job ${job}/${jobs}: ${(wallMs / 1000).toFixed(1)} s, RSS ${mebibytes(usage.rss).toFixed(0)} MiB, ${memory.numTensors} tensors`);
    }
  } finally {
    rmSync(workDirectory, { recursive: true, force: true });
  }

  const verdict = judge(samples);
  const report = {
    created_at: new Date().toISOString(),
    quick,
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memory_bytes: os.totalmem(), node: process.version },
    backend: { name: backend.name, version: backend.version },
    load_average_before: loadAverageBefore,
    load_average_after: roundedLoadAverage(),
    total_seconds: Math.round((performance.now() - startedAt) / 1000),
    model: path.relative(ROOT, MODEL_PATH),
    dataset: `first ${TRAIN_SAMPLES} training and ${TEST_SAMPLES} test samples of MNIST`,
    params,
    max_second_half_growth_mib: MAX_SECOND_HALF_GROWTH_MIB,
    verdict,
    samples,
  };

  mkdirSync(RESULTS_DIRECTORY, { recursive: true });
  writeFileSync(path.join(RESULTS_DIRECTORY, 'worker-memory.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(RESULTS_DIRECTORY, 'worker-memory.md'), formatMarkdown(report));
  console.log(`worker memory: ${verdict.summary}`);
}

interface Verdict {
  stable: boolean;
  /** RSS after the last job minus RSS after the middle job. */
  second_half_growth_bytes: number;
  /** Least-squares slope of RSS over the second half, in bytes per job. */
  second_half_slope_bytes_per_job: number;
  tensors_after_first_job: number;
  tensors_after_last_job: number;
  summary: string;
}

function judge(samples: readonly JobSample[]): Verdict {
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  const middle = samples[Math.floor((samples.length - 1) / 2)]!;
  const secondHalf = samples.filter((sample) => sample.job >= middle.job);
  const growth = last.rss_bytes - middle.rss_bytes;
  const slope = leastSquaresSlope(
    secondHalf.map((sample) => sample.job),
    secondHalf.map((sample) => sample.rss_bytes),
  );
  const rssStable = growth < MAX_SECOND_HALF_GROWTH_MIB * 2 ** 20;
  const tensorsStable = last.tensors <= first.tensors;

  const parts = [
    `RSS ${rssStable ? 'stops growing' : 'keeps growing'}: ${signedMebibytes(growth)} MiB from job ${middle.job} to job ${last.job} ` +
      `(limit ${MAX_SECOND_HALF_GROWTH_MIB} MiB, slope ${signedMebibytes(slope)} MiB per job)`,
    `live tensors ${tensorsStable ? 'do not grow' : 'grow'}: ${first.tensors} after job 1, ${last.tensors} after job ${last.job}`,
  ];
  return {
    stable: rssStable && tensorsStable,
    second_half_growth_bytes: growth,
    second_half_slope_bytes_per_job: Math.round(slope),
    tensors_after_first_job: first.tensors,
    tensors_after_last_job: last.tensors,
    summary: parts.join('; '),
  };
}

function leastSquaresSlope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const meanX = xs.reduce((sum, x) => sum + x, 0) / n;
  const meanY = ys.reduce((sum, y) => sum + y, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (let i = 0; i < n; i++) {
    covariance += ((xs[i] as number) - meanX) * ((ys[i] as number) - meanY);
    variance += ((xs[i] as number) - meanX) ** 2;
  }
  return covariance / variance;
}

/** Writes the first training and test samples of MNIST as an uncompressed NPZ of uint8 arrays. */
async function writeMnistSubset(datasetPath: string): Promise<void> {
  const mnist = await loadMnist();
  const head = (array: IdxArray, count: number): IdxArray => {
    const sampleSize = array.shape.slice(1).reduce((product, size) => product * size, 1);
    return { shape: [count, ...array.shape.slice(1)], data: array.data.subarray(0, count * sampleSize) };
  };
  const npz = encodeNpz({
    x_train: { dtype: '|u1', ...head(mnist.xTrain, TRAIN_SAMPLES) },
    y_train: { dtype: '|u1', ...head(mnist.yTrain, TRAIN_SAMPLES) },
    x_test: { dtype: '|u1', ...head(mnist.xTest, TEST_SAMPLES) },
    y_test: { dtype: '|u1', ...head(mnist.yTest, TEST_SAMPLES) },
  });
  writeFileSync(datasetPath, npz);
}

function roundedLoadAverage(): number[] {
  return os.loadavg().map((value) => Math.round(value * 100) / 100);
}

function mebibytes(bytes: number): number {
  return bytes / 2 ** 20;
}

function signedMebibytes(bytes: number): string {
  const value = mebibytes(bytes);
  return `${value >= 0 ? '+' : ''}${value.toFixed(1)}`;
}

function formatMarkdown(report: {
  created_at: string;
  quick: boolean;
  machine: { cpu: string; cores: number; node: string };
  backend: { name: string; version: string };
  load_average_before: number[];
  load_average_after: number[];
  total_seconds: number;
  model: string;
  dataset: string;
  verdict: Verdict;
  samples: JobSample[];
}): string {
  const lines = [
    '# Worker memory over many jobs in one process',
    '',
    `Written by \`pnpm bench${report.quick ? ' --quick' : ''}\` (bench/worker-memory.ts) on ${report.created_at}, in ${report.total_seconds} s.`,
    `Machine: ${report.machine.cpu}, ${report.machine.cores} cores (shared with other work), Node.js ${report.machine.node}. ` +
      `Backend: ${report.backend.name} ${report.backend.version}. Load average before: ${report.load_average_before.join(', ')}; ` +
      `after: ${report.load_average_after.join(', ')}.`,
    '',
    `Each job runs \`runPipeline\` in this process on ${report.model} with the ${report.dataset} (14 linear clusters, one epoch, ` +
      'batch 250, Adam 1e-5, inputs scaled by 1/255), then deletes its artifacts. After each job a full GC runs, then ' +
      '`process.memoryUsage()` and `tf.memory()` are read. The worker runs every job in a child process of its own, ' +
      'so this is a stricter case than the worker itself.',
    '',
    `**Verdict: ${report.verdict.stable ? 'stable' : 'not stable'}.** ${report.verdict.summary}.`,
    '',
    '| job | wall s | RSS MiB | heapUsed MiB | external MiB | arrayBuffers MiB | live tensors | tensor MiB |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const sample of report.samples) {
    lines.push(
      `| ${sample.job} | ${(sample.wall_ms / 1000).toFixed(1)} | ${mebibytes(sample.rss_bytes).toFixed(0)} | ` +
        `${mebibytes(sample.heap_used_bytes).toFixed(0)} | ${mebibytes(sample.external_bytes).toFixed(0)} | ` +
        `${mebibytes(sample.array_buffers_bytes).toFixed(0)} | ${sample.tensors} | ${mebibytes(sample.tensor_bytes).toFixed(1)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}
