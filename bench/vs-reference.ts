// Centroid against TFMOT on the bundled example: the MNIST CNN clustered to 14 linear
// centroids per kernel and fine-tuned for one epoch over all 60,000 training samples
// (batch 250, Adam 1e-5). The reference is bench/reference/tfmot_cluster.py in the
// project's .venv (tf_keras with tensorflow-model-optimization). Centroid runs
// `runPipeline` in this process on the backend `selectBackend` picks (native TensorFlow
// after `pnpm setup:native`). Both sides run one after the other, in one run, and the
// load average is recorded before each, because the machine may be shared. A short
// profile of Centroid's training step follows. Writes bench/results/vs-reference.json
// and vs-reference.md.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JobParamsSchema, type Metrics } from '../packages/contracts/src/index.js';
import { ensureMnistNpz } from '../packages/examples/src/index.js';
import { runPipeline } from '../packages/pipeline/src/index.js';
import { runChild } from './lib/run-child.js';
import { profileSteps, type StepProfile } from './reference/profile-steps.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MODEL_PATH = path.join(ROOT, 'packages/examples/models/mnist-cnn.h5');
const DATA_DIRECTORY = path.join(ROOT, '.data/datasets');
const PYTHON = path.join(ROOT, '.venv/bin/python');
const REFERENCE_SCRIPT = path.join(ROOT, 'bench/reference/tfmot_cluster.py');
const RESULTS_DIRECTORY = path.join(ROOT, 'bench/results');

const NUMBER_OF_CLUSTERS = 14;
const BATCH_SIZE = 250;
const LEARNING_RATE = 1e-5;
const INPUT_SCALE = 1 / 255;
/** The reference took 30 to 40 s on 2 shared cores (AMD EPYC); past this limit it is killed. */
const REFERENCE_TIMEOUT_SECONDS = 360;
/** Training steps timed by the profile, after its warm-up steps. */
const PROFILE_STEPS = 8;

const STAGES = ['loading', 'evaluating_baseline', 'clustering', 'fine_tuning', 'stripping', 'evaluating', 'packaging'] as const;
type StageName = (typeof STAGES)[number];

interface EvaluationResult {
  loss: number;
  accuracy: number;
  samples: number;
}

interface ReferenceReport {
  timings_ms: Record<StageName, number>;
  baseline: EvaluationResult;
  clustered: EvaluationResult;
  fine_tuning: { train_samples: number; steps: number; final_train_loss: number };
  size: { original_bytes: number; original_gzip_bytes: number; clustered_bytes: number; clustered_gzip_bytes: number };
  /** Distinct values per kernel dataset of the saved .h5, keyed by its path under model_weights. */
  distinct_values: Record<string, number>;
  versions: Record<string, string>;
  threads: { intra_op: number; inter_op: number };
}

interface SideResult<T> {
  load_average_before: number[];
  wall_ms: number;
  report: T;
}

const params = JobParamsSchema.parse({
  number_of_clusters: NUMBER_OF_CLUSTERS,
  cluster_centroids_init: 'linear',
  fine_tune: { epochs: 1, batch_size: BATCH_SIZE, learning_rate: LEARNING_RATE, validation_split: 0, max_train_samples: null },
  dataset: { input_scale: INPUT_SCALE },
});

await main();

async function main(): Promise<void> {
  if (!existsSync(PYTHON)) {
    throw new Error(`Python environment not found at ${PYTHON}; run \`pnpm setup:python\` first`);
  }
  const datasetPath = await ensureMnistNpz(DATA_DIRECTORY);
  const workDirectory = mkdtempSync(path.join(os.tmpdir(), 'centroid-vs-reference-'));
  const startedAt = performance.now();

  try {
    console.log('vs-reference: running the TFMOT reference');
    const reference = await runReference(datasetPath, path.join(workDirectory, 'reference'));
    console.log(`vs-reference: reference finished in ${formatSeconds(reference.wall_ms)}`);

    console.log('vs-reference: running Centroid');
    const centroid = await runCentroid(datasetPath, path.join(workDirectory, 'centroid'));
    console.log(`vs-reference: Centroid finished in ${formatSeconds(centroid.wall_ms)} on ${centroid.report.backend.name}`);

    console.log(`vs-reference: profiling ${PROFILE_STEPS} training steps`);
    const profileLoad = os.loadavg();
    const profile = await profileSteps(MODEL_PATH, datasetPath, params, PROFILE_STEPS);

    const report = {
      created_at: new Date().toISOString(),
      total_seconds: Math.round((performance.now() - startedAt) / 1000),
      machine: describeMachine(),
      params,
      reference,
      centroid,
      profile: { load_average_before: profileLoad, ...profile },
    };
    mkdirSync(RESULTS_DIRECTORY, { recursive: true });
    writeFileSync(path.join(RESULTS_DIRECTORY, 'vs-reference.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(path.join(RESULTS_DIRECTORY, 'vs-reference.md'), formatMarkdown(report));
    console.log(`vs-reference: written to ${RESULTS_DIRECTORY} after ${report.total_seconds} s`);
  } finally {
    rmSync(workDirectory, { recursive: true, force: true });
  }
}

/** Runs the Python reference in a child process and parses the JSON line it prints last. */
async function runReference(datasetPath: string, outDirectory: string): Promise<SideResult<ReferenceReport>> {
  const loadAverage = os.loadavg();
  const started = performance.now();
  const argumentsList = [
    REFERENCE_SCRIPT,
    ['--model', MODEL_PATH],
    ['--data', datasetPath],
    ['--out-dir', outDirectory],
    ['--number-of-clusters', String(NUMBER_OF_CLUSTERS)],
    ['--batch-size', String(BATCH_SIZE)],
    ['--learning-rate', String(LEARNING_RATE)],
    ['--input-scale', String(INPUT_SCALE)],
  ].flat();
  const outcome = await runChild(PYTHON, argumentsList, {
    timeoutMs: REFERENCE_TIMEOUT_SECONDS * 1000,
    env: { ...process.env, TF_USE_LEGACY_KERAS: '1' },
  });

  const { code, signal, lastLine } = outcome;
  if (outcome.timedOut) throw new Error(`the TFMOT reference timed out after ${REFERENCE_TIMEOUT_SECONDS} s and was killed`);
  if (code !== 0 || !lastLine.startsWith('{')) {
    const detail = outcome.stderr.trim().split('\n').slice(-5).join('\n');
    throw new Error(`the TFMOT reference failed with exit code ${code} (signal ${signal}):\n${detail}`);
  }
  return { load_average_before: loadAverage, wall_ms: Math.round(performance.now() - started), report: JSON.parse(lastLine) as ReferenceReport };
}

async function runCentroid(datasetPath: string, outDirectory: string): Promise<SideResult<Metrics>> {
  const loadAverage = os.loadavg();
  const started = performance.now();
  const result = await runPipeline(
    {
      modelPath: MODEL_PATH,
      modelFilename: path.basename(MODEL_PATH),
      datasetPath,
      datasetFilename: path.basename(datasetPath),
      params,
      outDir: outDirectory,
    },
    {
      onLog: (level, message) => {
        if (level === 'warn' || level === 'error') console.error(`centroid ${level}: ${message}`);
      },
    },
  );
  return { load_average_before: loadAverage, wall_ms: Math.round(performance.now() - started), report: result.metrics };
}

function describeMachine() {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memory_bytes: os.totalmem(),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

type Report = {
  created_at: string;
  total_seconds: number;
  machine: ReturnType<typeof describeMachine>;
  reference: SideResult<ReferenceReport>;
  centroid: SideResult<Metrics>;
  profile: StepProfile & { load_average_before: number[] };
};

function formatMarkdown(report: Report): string {
  const reference = report.reference.report;
  const centroid = report.centroid.report;
  const referenceEpoch = reference.timings_ms.fine_tuning;
  const centroidEpoch = centroid.timings_ms.fine_tuning ?? Number.NaN;
  const stepsPerEpoch = centroid.fine_tuning.steps;
  const loads = (values: number[]) => values.map((value) => value.toFixed(2)).join(', ');

  const lines = [
    '# Centroid against TFMOT: the example experiment',
    '',
    `Written by \`pnpm bench\` (bench/vs-reference.ts) on ${report.created_at}, in ${report.total_seconds} s.`,
    `Machine: ${report.machine.cpu}, ${report.machine.cores} cores shared with other work, Node.js ${report.machine.node}, ${report.machine.platform}.`,
    '',
    `Experiment: packages/examples/models/mnist-cnn.h5, ${NUMBER_OF_CLUSTERS} clusters per kernel, linear initialisation, one fine-tuning ` +
      `epoch over ${centroid.fine_tuning.train_samples.toLocaleString('en-US')} MNIST training samples, batch ${BATCH_SIZE}, Adam ${LEARNING_RATE}, ` +
      'inputs scaled by 1/255, test loss and accuracy on the 10,000 test samples of the model that is shipped (the stripped one).',
    '',
    `- Reference: TFMOT ${reference.versions['tensorflow-model-optimization']} on tf_keras ${reference.versions.tf_keras}, ` +
      `tensorflow-cpu ${reference.versions['tensorflow-cpu']} (intra-op threads ${reference.threads.intra_op}, 0 = all cores), ` +
      `\`model.fit\`; load average before: ${loads(report.reference.load_average_before)}.`,
    `- Centroid: \`runPipeline\` in-process on the \`${centroid.backend.name}\` backend (${centroid.backend.version}); ` +
      `load average before: ${loads(report.centroid.load_average_before)}.`,
    '',
    'Timings are wall clock, from one run each, on a machine shared with other work, so expect noise of tens of percent.',
    '',
    '| stage | TFMOT s | Centroid s | Centroid / TFMOT |',
    '| --- | ---: | ---: | ---: |',
  ];
  for (const stage of STAGES) {
    const referenceMs = reference.timings_ms[stage];
    const centroidMs = centroid.timings_ms[stage] ?? Number.NaN;
    lines.push(`| ${stage} | ${formatSeconds(referenceMs)} | ${formatSeconds(centroidMs)} | ${formatRatio(centroidMs / referenceMs)} |`);
  }
  lines.push(
    `| whole run (process or call) | ${formatSeconds(report.reference.wall_ms)} | ${formatSeconds(report.centroid.wall_ms)} | ` +
      `${formatRatio(report.centroid.wall_ms / report.reference.wall_ms)} |`,
    '',
    `Fine-tuning epoch: Centroid / TFMOT = **${formatRatio(centroidEpoch / referenceEpoch)}** ` +
      `(${stepsPerEpoch} steps: ${(centroidEpoch / stepsPerEpoch).toFixed(0)} ms per step against ${(referenceEpoch / reference.fine_tuning.steps).toFixed(0)} ms).`,
    '',
    'Stage boundaries: loading includes reading the NPZ and scaling it on both sides; the reference\'s clustering stage includes ' +
      '`cluster_weights` and `compile`; packaging is writing the .h5 and its gzip (level 9), plus, for Centroid, the per-layer report ' +
      'and metrics.json. The whole-run row for TFMOT includes starting Python and importing TensorFlow.',
    '',
    '| result | TFMOT | Centroid |',
    '| --- | ---: | ---: |',
    `| test accuracy before | ${reference.baseline.accuracy.toFixed(4)} | ${formatNumber(centroid.baseline?.accuracy, 4)} |`,
    `| test accuracy of the shipped model | ${reference.clustered.accuracy.toFixed(4)} | ${formatNumber(centroid.clustered?.accuracy, 4)} |`,
    `| test loss before | ${reference.baseline.loss.toFixed(4)} | ${formatNumber(centroid.baseline?.loss, 4)} |`,
    `| test loss of the shipped model | ${reference.clustered.loss.toFixed(4)} | ${formatNumber(centroid.clustered?.loss, 4)} |`,
    `| final training loss of the epoch | ${reference.fine_tuning.final_train_loss.toFixed(4)} | ${formatNumber(centroid.fine_tuning.final_train_loss, 4)} |`,
    `| original .h5, gzip bytes | ${formatBytes(reference.size.original_gzip_bytes)} | ${formatBytes(centroid.size.original_gzip_bytes)} |`,
    `| shipped .h5, bytes | ${formatBytes(reference.size.clustered_bytes)} | ${formatBytes(centroid.size.clustered_bytes)} |`,
    `| shipped .h5, gzip bytes | ${formatBytes(reference.size.clustered_gzip_bytes)} | ${formatBytes(centroid.size.clustered_gzip_bytes)} |`,
    `| gzip ratio, original / shipped | ${formatRatio(reference.size.original_gzip_bytes / reference.size.clustered_gzip_bytes)} | ` +
      `${formatRatio(centroid.size.original_gzip_bytes / centroid.size.clustered_gzip_bytes)} |`,
    `| shipped gzip, Centroid / TFMOT | | ${formatRatio(centroid.size.clustered_gzip_bytes / reference.size.clustered_gzip_bytes)} |`,
    '',
    'Both shipped files omit the optimizer state. Both sides gzip at level 9, each with its own zlib (Python\'s gzip module, ' +
      'Node.js zlib), so even the same original file gets slightly different gzip sizes. ' +
      'TFMOT fine-tunes the biases too, but Centroid leaves every unclustered weight as uploaded.',
    '',
    '| kernel | shape | distinct values, TFMOT | distinct values, Centroid |',
    '| --- | --- | ---: | ---: |',
  );
  for (const layer of centroid.layers.filter((entry) => entry.clustered)) {
    lines.push(`| ${layer.weight} | ${layer.shape.join('×')} | ${referenceDistinct(reference, layer.weight) ?? 'not found'} | ${layer.distinct_after} |`);
  }
  lines.push('', ...formatProfile(report, centroidEpoch / stepsPerEpoch, referenceEpoch / reference.fine_tuning.steps));
  return `${lines.join('\n')}\n`;
}

/** Returns the reference's distinct-value count for a weight named like `conv2d/kernel:0`. */
function referenceDistinct(reference: ReferenceReport, weight: string): number | undefined {
  const match = Object.entries(reference.distinct_values).find(([name]) => name === weight || name.endsWith(`/${weight}`));
  return match?.[1];
}

function formatProfile(report: Report, centroidStepMs: number, referenceStepMs: number): string[] {
  const { profile } = report;
  const parts = profile.mean_ms;
  const share = (ms: number) => `${((ms / centroidStepMs) * 100).toFixed(0)}%`;
  const lines = [
    `## Where Centroid's training step spends its time`,
    '',
    `Measured after the runs above by bench/reference/profile-steps.ts: ${profile.steps} batches of ${profile.batch_size} ` +
      `(after 2 warm-up batches) on the same backend, load average before: ${profile.load_average_before.map((value) => value.toFixed(2)).join(', ')}. ` +
      'Each part is timed on its own over the same batches and ends by reading its result back, so the parts overlap: ' +
      'the forward pass contains the centroid assignment, and the forward plus backward pass contains the forward pass. ' +
      'A share above 100% means the machine was busier during the profile than during the epoch.',
    '',
    '| part | mean ms per step | share of the epoch\'s mean step |',
    '| --- | ---: | ---: |',
    `| gather the batch (x and y) | ${parts.gather_batch.toFixed(1)} | ${share(parts.gather_batch)} |`,
    `| centroid assignment of every clustered kernel, forward only | ${parts.centroid_assignment.toFixed(1)} | ${share(parts.centroid_assignment)} |`,
    `| forward pass with loss | ${parts.forward.toFixed(1)} | ${share(parts.forward)} |`,
    `| forward plus backward pass | ${parts.forward_backward.toFixed(1)} | ${share(parts.forward_backward)} |`,
    `| Adam update | ${parts.optimizer_update.toFixed(1)} | ${share(parts.optimizer_update)} |`,
    `| mean step of the epoch above | ${centroidStepMs.toFixed(1)} | 100% |`,
    `| plain training step of the unclustered model, every trainable weight | ${parts.plain_step.toFixed(1)} | ${share(parts.plain_step)} |`,
    `| mean step of TFMOT's epoch above | ${referenceStepMs.toFixed(1)} | |`,
    '',
    'The plain step is forward, backward and Adam update of the unclustered model on the same batches, as Keras would train it, ' +
      'timed before clustering starts. TensorFlow.js kernels of one clustered step (forward, backward and update, clustered ' +
      'weights only, as the pipeline trains), by total time, from `tf.profile`:',
    '',
    '| kernel | ms |',
    '| --- | ---: |',
    ...profile.kernels.map((kernel) => `| ${kernel.name} | ${kernel.ms.toFixed(1)} |`),
  ];
  return lines;
}

function formatSeconds(milliseconds: number): string {
  return Number.isFinite(milliseconds) ? (milliseconds / 1000).toFixed(2) : 'n/a';
}

function formatRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : 'n/a';
}

function formatNumber(value: number | null | undefined, digits: number): string {
  return value == null ? 'n/a' : value.toFixed(digits);
}

function formatBytes(bytes: number): string {
  return bytes.toLocaleString('en-US');
}
