/**
 * Times one training step of a small MNIST CNN on the tfjs `cpu` backend before and after
 * registerFastCpuKernels(), with the time spent in each kernel.
 *
 * Usage: node --import tsx packages/engine/src/kernels/bench-conv.ts OUTPUT.json [--batch 32] [--steps 1]
 *
 * A step here is the forward and backward pass of `tf.variableGrads` over all trainable
 * weights with categorical cross-entropy loss. It applies no optimizer update. The script also
 * times one `model.predict` on the same batch, which runs the fused kernels. The model is
 * Conv2D 32 3x3 relu 'valid', MaxPool 2, Conv2D 64 3x3 relu, MaxPool 2, Flatten, Dense 256 relu,
 * Dense 10 softmax on 28x28x1 inputs, with seeded weights and random inputs.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';

import * as tf from '@tensorflow/tfjs';

import { registerFastCpuKernels } from './index.js';

interface KernelTotal {
  name: string;
  calls: number;
  totalMs: number;
  /** Fraction of the summed kernel time of the step. */
  share: number;
}

interface PhaseResult {
  stepMs: number[];
  medianStepMs: number;
  msPerSample: number;
  /** Kernel times of the last timed step, slowest first. */
  kernels: KernelTotal[];
  predictMs: number;
  predictMsPerSample: number;
}

const WARMUP_BATCH = 2;

function buildMnistCnn(): tf.Sequential {
  let seed = 1;
  const kernelInitializer = (): ReturnType<typeof tf.initializers.glorotUniform> => tf.initializers.glorotUniform({ seed: seed++ });

  const model = tf.sequential();
  model.add(
    tf.layers.conv2d({
      inputShape: [28, 28, 1],
      filters: 32,
      kernelSize: 3,
      activation: 'relu',
      padding: 'valid',
      kernelInitializer: kernelInitializer(),
    }),
  );
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu', kernelInitializer: kernelInitializer() }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 256, activation: 'relu', kernelInitializer: kernelInitializer() }));
  model.add(tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: kernelInitializer() }));
  return model;
}

function makeBatch(batchSize: number): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  const xs = tf.randomUniform([batchSize, 28, 28, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
  const labels = tf.randomUniform([batchSize], 0, 10, 'int32', 8) as tf.Tensor1D;
  const ys = tf.oneHot(labels, 10).toFloat() as tf.Tensor2D;
  labels.dispose();
  return { xs, ys };
}

/** Computes the loss gradients of all trainable weights and returns them as arrays. */
function computeGradients(model: tf.Sequential, xs: tf.Tensor4D, ys: tf.Tensor2D): Float32Array[] {
  const variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(
    () => tf.metrics.categoricalCrossentropy(ys, model.apply(xs, { training: true }) as tf.Tensor).mean() as tf.Scalar,
    variables,
  );
  const arrays = variables.map((variable) => {
    const grad = grads[variable.name];
    if (grad === undefined) {
      throw new Error(`No gradient was computed for variable ${variable.name}.`);
    }
    return grad.dataSync() as Float32Array;
  });
  value.dispose();
  tf.dispose(Object.values(grads));
  return arrays;
}

function sumKernelTimes(kernels: readonly { name: string; kernelTimeMs: unknown }[]): KernelTotal[] {
  const totals = new Map<string, KernelTotal>();
  for (const kernel of kernels) {
    const timeMs = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    const total = totals.get(kernel.name) ?? { name: kernel.name, calls: 0, totalMs: 0, share: 0 };
    total.calls += 1;
    total.totalMs += timeMs;
    totals.set(kernel.name, total);
  }

  const sorted = [...totals.values()].sort((a, b) => b.totalMs - a.totalMs);
  const allMs = sorted.reduce((sum, total) => sum + total.totalMs, 0);
  for (const total of sorted) {
    total.share = allMs > 0 ? total.totalMs / allMs : 0;
  }
  return sorted;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function timePhase(
  model: tf.Sequential,
  batch: { xs: tf.Tensor4D; ys: tf.Tensor2D },
  steps: number,
): Promise<{ result: PhaseResult; gradients: Float32Array[] }> {
  // One small step first, so that V8 has compiled the kernels before the timed steps.
  const warmup = makeBatch(WARMUP_BATCH);
  computeGradients(model, warmup.xs, warmup.ys);
  tf.tidy(() => (model.predict(warmup.xs) as tf.Tensor).dataSync());
  tf.dispose([warmup.xs, warmup.ys]);

  const stepMs: number[] = [];
  let gradients: Float32Array[] = [];
  let kernels: KernelTotal[] = [];
  for (let step = 0; step < steps; step++) {
    const start = performance.now();
    const profile = await tf.profile(() => {
      gradients = computeGradients(model, batch.xs, batch.ys);
    });
    stepMs.push(performance.now() - start);
    kernels = sumKernelTimes(profile.kernels);
  }

  const predictStart = performance.now();
  tf.tidy(() => (model.predict(batch.xs) as tf.Tensor).dataSync());
  const predictMs = performance.now() - predictStart;

  const batchSize = batch.xs.shape[0];
  const medianStepMs = median(stepMs);
  const result = {
    stepMs,
    medianStepMs,
    msPerSample: medianStepMs / batchSize,
    kernels,
    predictMs,
    predictMsPerSample: predictMs / batchSize,
  };
  return { result, gradients };
}

/** Returns the largest absolute difference divided by the largest absolute reference value. */
function maxRelativeDifference(reference: Float32Array[], actual: Float32Array[]): number {
  let worst = 0;
  reference.forEach((expected, index) => {
    const got = actual[index]!;
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < expected.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(expected[i]! - got[i]!));
      maxAbs = Math.max(maxAbs, Math.abs(expected[i]!));
    }
    worst = Math.max(worst, maxAbs > 0 ? maxDiff / maxAbs : maxDiff);
  });
  return worst;
}

function printPhase(label: string, phase: PhaseResult): void {
  console.log(`${label}: ${phase.medianStepMs.toFixed(0)} ms per step, ${phase.msPerSample.toFixed(2)} ms per sample`);
  console.log(`  predict: ${phase.predictMs.toFixed(0)} ms, ${phase.predictMsPerSample.toFixed(2)} ms per sample`);
  for (const kernel of phase.kernels.slice(0, 8)) {
    const percent = (kernel.share * 100).toFixed(1).padStart(5);
    console.log(`  ${kernel.name.padEnd(24)} ${kernel.totalMs.toFixed(1).padStart(9)} ms ${percent}%  (${kernel.calls} calls)`);
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      batch: { type: 'string', default: '32' },
      steps: { type: 'string', default: '1' },
    },
  });
  const outputPath = positionals[0];
  const batchSize = Number(values.batch);
  const steps = Number(values.steps);
  if (outputPath === undefined || !Number.isInteger(batchSize) || batchSize < 1 || !Number.isInteger(steps) || steps < 1) {
    console.error('Usage: bench-conv.ts OUTPUT.json [--batch N] [--steps N], with N a positive integer.');
    process.exitCode = 2;
    return;
  }

  await tf.setBackend('cpu');
  await tf.ready();

  const model = buildMnistCnn();
  const batch = makeBatch(batchSize);

  const before = await timePhase(model, batch, steps);
  printPhase('before', before.result);

  const replacedKernels = registerFastCpuKernels();
  const after = await timePhase(model, batch, steps);
  printPhase(`after (replaced ${replacedKernels.join(', ')})`, after.result);

  const gradientMaxRelativeDifference = maxRelativeDifference(before.gradients, after.gradients);
  const speedup = before.result.medianStepMs / after.result.medianStepMs;
  console.log(`speedup ${speedup.toFixed(1)}x, gradient max relative difference ${gradientMaxRelativeDifference.toExponential(2)}`);

  const report = {
    config: {
      batchSize,
      steps,
      backend: tf.getBackend(),
      tfjsVersion: tf.version.tfjs,
      node: process.version,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cpuCount: os.cpus().length,
    },
    replacedKernels,
    before: before.result,
    after: after.result,
    speedup,
    gradientMaxRelativeDifference,
  };
  writeFileSync(outputPath, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${outputPath}`);
  tf.dispose([batch.xs, batch.ys]);
}

await main();
