// Benchmark of centroid initialisation plus nearest-centroid assignment, for every
// initialisation at N = 8, 16 and 256 on 1M, 10M and 100M normally distributed float32
// weights (`--quick`: 1M and 10M only). Each case runs in its own child process, so
// that its peak memory is its own. Before the cases, a child process times one
// clustered fine-tuning step of the example CNN against one plain training step (see
// lib/training-step.ts). Writes bench/results/engine.json and engine.md.
//
// Memory, per case, all measured inside the child:
// - peak RSS: process.memoryUsage.rss() sampled every 5 ms by a worker thread while
//   the case runs. The main thread is busy in synchronous code, so it cannot sample.
//   Peaks shorter than 5 ms can be missed.
// - RSS above baseline: that peak minus the RSS just before the case, after a full GC,
//   with the weights already generated.
// - heapUsed and arrayBuffers deltas: process.memoryUsage() right after the case (no
//   GC in between) minus just before it. They show what the case left allocated, the
//   int32 assignment included, not its peak.
// RSS does not grow while an allocation reuses memory the process freed earlier, so
// small buffers can leave it unchanged.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CentroidInitialisation } from '../packages/contracts/src/params.js';
import { assignClusters } from '../packages/engine/src/assign-clusters.js';
import { initialiseCentroids } from '../packages/engine/src/initialise-centroids.js';
import { planThreads } from '../packages/engine/src/kmeans-1d-optimal.js';
import { createRandom } from '../packages/engine/src/random.js';
import { sumOfSquaredErrors } from '../packages/engine/src/squared-error.js';
import { runChild } from './lib/run-child.js';
import { TRAINING_STEP_SETTINGS, type TrainingStepMeasurement } from './lib/training-step.js';

const METHODS: readonly CentroidInitialisation[] = ['linear', 'random', 'density_based', 'kmeans_plus_plus', 'kmeans', 'kmeans_1d_optimal'];
const CLUSTER_COUNTS = [8, 16, 256] as const;
const FULL_SIZES = [1_000_000, 10_000_000, 100_000_000] as const;
const QUICK_SIZES = [1_000_000, 10_000_000] as const;
const WEIGHT_SEED = 20_260_101;
const INITIALISATION_SEED = 0;

/** The whole run stops starting cases after this, to end within about 40 minutes. */
const TOTAL_BUDGET_SECONDS = 32 * 60;
/**
 * A kmeans_1d_optimal case estimated to take longer than this is skipped, so that the
 * run ends within the budget. The estimate scales the rate of the last measured
 * kmeans_1d_optimal case, whose threads and array sizes may differ.
 */
const MAX_OPTIMAL_CASE_SECONDS = 420;
/** A case still running after this is killed. */
const CASE_TIMEOUT_SECONDS = 600;
/** A case predicted to need more than this fraction of the machine's memory is skipped. */
const MAX_MEMORY_FRACTION = 0.5;

/** Estimated bytes per weight at the peak of each case, from the buffers each method allocates. */
const BYTES_PER_WEIGHT: Record<CentroidInitialisation, number> = {
  // The weights (4) and the int32 assignment (4).
  linear: 8,
  random: 8,
  // A sorted copy.
  density_based: 12,
  // A sorted copy with a prefix sum every 64 values, and the assignment.
  kmeans_plus_plus: 13,
  kmeans: 13,
  // A sorted copy while three float64 prefix sums are built, then those sums, three
  // float64 cost rows and the SMAWK buffers (four int32 and two float64), with every value
  // distinct in the worst case, on one thread. Worker threads add 48 bytes each, and
  // planThreads only starts them where that fits in half the free memory.
  kmeans_1d_optimal: 84,
};

interface CaseSpec {
  size: number;
  method: CentroidInitialisation;
  clusters: number;
}

interface CaseMeasurement {
  initialisation_ms: number;
  assignment_ms: number;
  total_ms: number;
  peak_rss_bytes: number;
  rss_above_baseline_bytes: number;
  heap_used_delta_bytes: number;
  array_buffers_delta_bytes: number;
  /** Highest RSS of the child's whole life (Linux VmHWM), weight generation included; null elsewhere. */
  lifetime_peak_rss_bytes: number | null;
  mean_squared_error: number;
  /** Threads of the initialisation: kmeans_1d_optimal's worker threads, 1 for the other methods. */
  threads: number;
}

interface CaseResult extends CaseSpec {
  status: 'measured' | 'skipped' | 'failed';
  reason: string | null;
  /** One-minute load average just before the case started, or null for a skipped case. */
  load_average_before?: number | null;
  measurement: CaseMeasurement | null;
}

/** The training-step child loads the model, MNIST and TensorFlow.js, then runs 46 steps. */
const TRAINING_STEP_TIMEOUT_SECONDS = 300;

interface TrainingStepResult {
  status: 'measured' | 'failed';
  reason: string | null;
  load_average_before: number[];
  measurement: TrainingStepMeasurement | null;
}

if (process.argv.includes('--case')) {
  runCase(parseCase(process.argv[process.argv.indexOf('--case') + 1] ?? ''));
} else if (process.argv.includes('--training-step')) {
  const { measureTrainingSteps } = await import('./lib/training-step.js');
  console.log(JSON.stringify(await measureTrainingSteps()));
} else {
  await runAll(process.argv.includes('--quick'));
}

async function runAll(quick: boolean): Promise<void> {
  const sizes = quick ? QUICK_SIZES : FULL_SIZES;
  const startedAt = performance.now();
  const trainingStep = await runTrainingStepInChild();
  if (trainingStep.measurement !== null) {
    const { ratio, backend } = trainingStep.measurement;
    console.log(`training step: clustered / plain = ${ratio} on ${backend.name}`);
  } else {
    console.log(`training step: ${trainingStep.status}: ${trainingStep.reason}`);
  }

  const results: CaseResult[] = [];
  // SMAWK steps per second of the last measured kmeans_1d_optimal case.
  let optimalRate: number | null = null;

  for (const size of sizes) {
    for (const method of METHODS) {
      for (const clusters of CLUSTER_COUNTS) {
        const spec: CaseSpec = { size, method, clusters };
        const skipReason = reasonToSkip(spec, optimalRate, (performance.now() - startedAt) / 1000);
        if (skipReason !== null) {
          results.push({ ...spec, status: 'skipped', reason: skipReason, measurement: null });
          console.log(`${describeCase(spec)}: skipped: ${skipReason}`);
          continue;
        }

        const loadAverageBefore = Math.round((os.loadavg()[0] ?? 0) * 100) / 100;
        const result = { ...(await runCaseInChild(spec)), load_average_before: loadAverageBefore };
        results.push(result);
        if (result.measurement !== null) {
          console.log(`${describeCase(spec)}: ${formatSeconds(result.measurement.total_ms)}, peak RSS ${formatMegabytes(result.measurement.peak_rss_bytes)}`);
          if (method === 'kmeans_1d_optimal') {
            optimalRate = optimalEvaluations(spec) / (result.measurement.initialisation_ms / 1000);
          }
        } else {
          console.log(`${describeCase(spec)}: ${result.status}: ${result.reason}`);
        }
      }
    }
  }

  const totalSeconds = (performance.now() - startedAt) / 1000;
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memory_bytes: os.totalmem(),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
  const report = {
    created_at: new Date().toISOString(),
    quick,
    machine,
    total_seconds: Math.round(totalSeconds),
    weights: `normal(0, 1) float32 from the engine's seeded generator, seed ${WEIGHT_SEED}`,
    initialisation_seed: INITIALISATION_SEED,
    training_step: trainingStep,
    results,
  };

  const resultsDirectory = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(resultsDirectory, { recursive: true });
  writeFileSync(path.join(resultsDirectory, 'engine.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(
    path.join(resultsDirectory, 'engine.md'),
    formatMarkdown(report.created_at, machine, totalSeconds, quick, results) + formatTrainingStep(trainingStep),
  );
  console.log(`engine bench: ${results.length} cases in ${Math.round(totalSeconds)} s, written to ${resultsDirectory}`);
}

/** Returns why a case should not run, or null. */
function reasonToSkip(spec: CaseSpec, optimalRate: number | null, elapsedSeconds: number): string | null {
  if (elapsedSeconds > TOTAL_BUDGET_SECONDS) {
    return `the bench's time budget of ${TOTAL_BUDGET_SECONDS / 60} minutes was spent`;
  }

  const memoryLimit = MAX_MEMORY_FRACTION * os.totalmem();
  const predictedBytes = BYTES_PER_WEIGHT[spec.method] * spec.size;
  if (predictedBytes > memoryLimit) {
    return `estimated peak ${formatMegabytes(predictedBytes)} exceeds ${MAX_MEMORY_FRACTION * 100}% of the machine's ${formatMegabytes(os.totalmem())}`;
  }

  if (spec.method === 'kmeans_1d_optimal' && optimalRate !== null) {
    const predictedSeconds = optimalEvaluations(spec) / optimalRate;
    if (predictedSeconds > MAX_OPTIMAL_CASE_SECONDS) {
      return (
        `estimated ${Math.round(predictedSeconds)} s, over the ${MAX_OPTIMAL_CASE_SECONDS} s limit per case: ` +
        `about 2·N·n = ${optimalEvaluations(spec).toExponential(1)} SMAWK steps ` +
        `at the ${optimalRate.toExponential(1)} per second of the last measured case`
      );
    }
  }
  return null;
}

/**
 * Returns the estimated work of kmeans_1d_optimal, taking every weight as distinct: the
 * Hirschberg recursion runs about 2·N layers of SMAWK over the n values.
 */
function optimalEvaluations(spec: CaseSpec): number {
  return 2 * spec.clusters * spec.size;
}

async function runTrainingStepInChild(): Promise<TrainingStepResult> {
  const loadAverageBefore = os.loadavg().map((value) => Math.round(value * 100) / 100);
  const outcome = await runChild(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--training-step'], {
    timeoutMs: TRAINING_STEP_TIMEOUT_SECONDS * 1000,
  });
  const failed = (reason: string): TrainingStepResult => ({ status: 'failed', reason, load_average_before: loadAverageBefore, measurement: null });

  if (outcome.timedOut) return failed(`timed out after ${TRAINING_STEP_TIMEOUT_SECONDS} s and was killed`);
  if (outcome.code !== 0 || outcome.lastLine === '') {
    return failed(`child exited with code ${outcome.code} (signal ${outcome.signal}): ${outcome.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
  return { status: 'measured', reason: null, load_average_before: loadAverageBefore, measurement: JSON.parse(outcome.lastLine) as TrainingStepMeasurement };
}

async function runCaseInChild(spec: CaseSpec): Promise<CaseResult> {
  const script = fileURLToPath(import.meta.url);
  const argument = `${spec.size},${spec.method},${spec.clusters}`;
  const outcome = await runChild(process.execPath, ['--expose-gc', '--import', 'tsx', script, '--case', argument], {
    timeoutMs: CASE_TIMEOUT_SECONDS * 1000,
  });

  if (outcome.timedOut) {
    return { ...spec, status: 'failed', reason: `timed out after ${CASE_TIMEOUT_SECONDS} s and was killed`, measurement: null };
  }
  if (outcome.code !== 0 || outcome.lastLine === '') {
    const detail = outcome.stderr.trim().split('\n').slice(-3).join(' | ');
    return { ...spec, status: 'failed', reason: `child exited with code ${outcome.code} (signal ${outcome.signal}): ${detail}`, measurement: null };
  }
  return { ...spec, status: 'measured', reason: null, measurement: JSON.parse(outcome.lastLine) as CaseMeasurement };
}

function parseCase(argument: string): CaseSpec {
  const [size, method, clusters] = argument.split(',');
  if (!METHODS.includes(method as CentroidInitialisation) || !Number.isInteger(Number(size)) || !Number.isInteger(Number(clusters))) {
    throw new Error(`invalid --case '${argument}': expected SIZE,METHOD,CLUSTERS such as 1000000,kmeans,16`);
  }
  return { size: Number(size), method: method as CentroidInitialisation, clusters: Number(clusters) };
}

/** Runs one case in this process and prints its measurement as one JSON line. */
function runCase(spec: CaseSpec): void {
  const values = normalWeights(spec.size, WEIGHT_SEED);
  const peak = new Float64Array(new SharedArrayBuffer(8));
  const sampler = startRssSampler(peak);

  const threads = spec.method === 'kmeans_1d_optimal' ? planThreads(distinctCount(values), spec.clusters) : 1;
  collectGarbage();
  const before = process.memoryUsage();
  peak[0] = before.rss;

  const start = performance.now();
  const centroids = initialiseCentroids(values, spec.clusters, spec.method, INITIALISATION_SEED);
  const initialised = performance.now();
  const assignment = assignClusters(values, centroids);
  const assigned = performance.now();

  const after = process.memoryUsage();
  const peakRss = Math.max(peak[0] as number, after.rss);
  void sampler.terminate();

  const measurement: CaseMeasurement = {
    initialisation_ms: Math.round(initialised - start),
    assignment_ms: Math.round(assigned - initialised),
    total_ms: Math.round(assigned - start),
    peak_rss_bytes: peakRss,
    rss_above_baseline_bytes: peakRss - before.rss,
    heap_used_delta_bytes: after.heapUsed - before.heapUsed,
    array_buffers_delta_bytes: after.arrayBuffers - before.arrayBuffers,
    lifetime_peak_rss_bytes: lifetimePeakRss(),
    mean_squared_error: sumOfSquaredErrors(values, centroids) / values.length,
    threads,
  };
  if (assignment.length !== values.length) throw new Error('assignment has the wrong length');
  console.log(JSON.stringify(measurement));
}

/** Returns the number of distinct values, counting -0 and +0 as one, as kmeans_1d_optimal does. */
function distinctCount(values: Float32Array): number {
  const sorted = Float32Array.from(values).sort();
  let count = 0;
  for (let i = 0; i < sorted.length; i++) {
    if (i === 0 || sorted[i] !== sorted[i - 1]) count++;
  }
  return count;
}

/** Returns `count` normal(0, 1) float32 values by the Box–Muller transform, repeatable for a seed. */
function normalWeights(count: number, seed: number): Float32Array {
  const random = createRandom(seed);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - random.nextFloat()));
    const angle = 2 * Math.PI * random.nextFloat();
    values[i] = radius * Math.cos(angle);
    if (i + 1 < count) values[i + 1] = radius * Math.sin(angle);
  }
  return values;
}

function startRssSampler(peak: Float64Array): Worker {
  const source = `
    const { workerData } = require('node:worker_threads');
    const peak = new Float64Array(workerData);
    setInterval(() => {
      const rss = process.memoryUsage.rss();
      if (rss > peak[0]) peak[0] = rss;
    }, 5);
  `;
  return new Worker(source, { eval: true, workerData: peak.buffer });
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run the case with node --expose-gc');
  gc();
}

function lifetimePeakRss(): number | null {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

function describeCase(spec: CaseSpec): string {
  return `${spec.method} N=${spec.clusters} n=${formatCount(spec.size)}`;
}

function formatCount(size: number): string {
  return size >= 1_000_000 ? `${size / 1_000_000}M` : String(size);
}

function formatSeconds(milliseconds: number): string {
  return `${(milliseconds / 1000).toFixed(2)} s`;
}

function formatMegabytes(bytes: number): string {
  return `${Math.round(bytes / 2 ** 20).toLocaleString('en-US')} MiB`;
}

function formatTrainingStep(result: TrainingStepResult): string {
  const settings = TRAINING_STEP_SETTINGS;
  const lines = [
    '',
    '## One clustered fine-tuning step against one plain training step',
    '',
    `Model: the example MNIST CNN. Both sides: batches of ${settings.batchSize} MNIST training samples (inputs scaled by 1/255), ` +
      `Adam at ${settings.learningRate}, forward and backward pass, update and loss read back, every trainable weight updated. ` +
      `Clustered: ${settings.numberOfClusters} ${settings.initialisation} centroids per kernel, timed between the onBatch calls of \`fineTune\`. ` +
      `Plain: the same step on the unclustered model. ${settings.warmupSteps} warm-up steps, then ${settings.timedSteps} timed steps on each side, ` +
      'plain first, in one child process. Load average before: ' +
      `${result.load_average_before.join(', ')}.`,
    '',
  ];
  const m = result.measurement;
  if (m === null) {
    lines.push(`Not measured: ${result.status}, ${result.reason}`);
    return `${lines.join('\n')}\n`;
  }
  const backendNote = m.backend.name === 'cpu' ? 'pure JavaScript, because the native backend did not load' : 'native TensorFlow';
  lines.push(
    `Backend: ${m.backend.name} ${m.backend.version} (${backendNote}).`,
    '',
    '| step | median ms | trainable variables |',
    '| --- | ---: | ---: |',
    `| plain | ${m.plain_median_ms.toFixed(1)} | ${m.trainable_variables.plain} |`,
    `| clustered | ${m.clustered_median_ms.toFixed(1)} | ${m.trainable_variables.clustered} |`,
    '',
    `Clustered / plain: **${m.ratio.toFixed(2)}×** (target: below 1.3×).`,
  );
  return `${lines.join('\n')}\n`;
}

function formatMarkdown(
  createdAt: string,
  machine: { cpu: string; cores: number; memory_bytes: number; node: string; platform: string },
  totalSeconds: number,
  quick: boolean,
  results: readonly CaseResult[],
): string {
  const lines = [
    '# Engine benchmark: initialisation plus assignment',
    '',
    `Written by \`pnpm bench${quick ? ' --quick' : ''}\` (bench/engine.ts) on ${createdAt}, in ${Math.round(totalSeconds)} s.`,
    `Machine: ${machine.cpu}, ${machine.cores} cores (shared with other work), ${formatMegabytes(machine.memory_bytes)}, Node.js ${machine.node}, ${machine.platform}.`,
    '',
    `Weights: normal(0, 1) float32, seed ${WEIGHT_SEED}. Each case is one child process: it generates the weights,`,
    'then times `initialiseCentroids` (seed 0) and `assignClusters` once. Every method runs on one thread except',
    'kmeans_1d_optimal, which splits large tensors over worker threads (the threads column; see',
    '`planThreads` in packages/engine/src/kmeans-1d-optimal.ts).',
    '',
    'Memory columns: *peak RSS* is `process.memoryUsage.rss()` sampled every 5 ms by a worker thread during the',
    'case; *above baseline* is that peak minus the RSS after a full GC just before the case (the weights, 4 bytes',
    'each, are in the baseline); *heapUsed Δ* and *arrayBuffers Δ* are `process.memoryUsage()` right after the case',
    'minus just before it, with no GC between, so they show what the case left allocated (the int32 assignment',
    'included), not its peak. RSS does not grow while an allocation reuses memory the process freed earlier, so',
    'small buffers can leave it unchanged. MSE is the mean squared error of each weight against its nearest centroid.',
    '',
    'The load column is the one-minute load average of the machine just before the case, since other work shares its cores.',
    '',
    '| n | method | N | threads | init s | assign s | total s | peak RSS MiB | above baseline MiB | heapUsed Δ MiB | arrayBuffers Δ MiB | MSE | load |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const notes: string[] = [];
  for (const result of results) {
    const m = result.measurement;
    if (m === null) {
      lines.push(`| ${formatCount(result.size)} | ${result.method} | ${result.clusters} | | ${result.status} (see below) | | | | | | | | |`);
      notes.push(`- ${describeCase(result)}: ${result.status}, ${result.reason}`);
      continue;
    }
    const megabytes = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
    lines.push(
      `| ${formatCount(result.size)} | ${result.method} | ${result.clusters} | ${m.threads} | ${(m.initialisation_ms / 1000).toFixed(2)} | ` +
        `${(m.assignment_ms / 1000).toFixed(2)} | ${(m.total_ms / 1000).toFixed(2)} | ${megabytes(m.peak_rss_bytes)} | ` +
        `${megabytes(m.rss_above_baseline_bytes)} | ${megabytes(m.heap_used_delta_bytes)} | ${megabytes(m.array_buffers_delta_bytes)} | ` +
        `${m.mean_squared_error.toExponential(3)} | ${result.load_average_before?.toFixed(2) ?? ''} |`,
    );
  }
  if (notes.length > 0) lines.push('', 'Cases not measured:', '', ...notes);
  return `${lines.join('\n')}\n`;
}
