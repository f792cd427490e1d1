// Exact one-dimensional k-means: the N centroids with the lowest possible sum of squared
// errors. In one dimension every optimal cluster is a run of the sorted values, so the
// optimum is a dynamic programme over the m sorted distinct values, weighted by their
// counts (kmeans-1d-programme.ts). Large tensors run it on worker threads
// (kmeans-1d-parallel.ts).
import { availableParallelism, freemem } from 'node:os';

import { splitOptimallyInParallel } from './kmeans-1d-parallel.js';
import { SmawkScratch, splitOptimally, type RunSums } from './kmeans-1d-programme.js';

/** Below this many cluster-values (N × distinct values), threads cost more than they save. */
const PARALLEL_MIN_WORK = 1 << 24;

/** Maximum number of worker threads used by default, whatever the machine has. */
const DEFAULT_MAX_THREADS = 4;

/**
 * Bytes per distinct value that each worker thread allocates at the peak: SMAWK buffers (32),
 * its spare cost row (8) and the shared row it fills (8).
 */
const WORKER_BYTES_PER_VALUE = 48;

/** Bytes per distinct value on the calling thread: prefix sums (24), three cost rows (24) and SMAWK buffers (32). */
const SERIAL_BYTES_PER_VALUE = 80;

/**
 * Raised when the programme would need more memory than is free, before it allocates it,
 * so that a job fails with a message instead of the process running out of memory.
 */
export class InsufficientMemoryError extends RangeError {
  constructor(
    readonly neededBytes: number,
    readonly freeBytes: number,
    distinctValues: number,
  ) {
    super(
      `kmeans_1d_optimal needs about ${formatBytes(neededBytes)} for the ${distinctValues} distinct values of this tensor, ` +
        `but only ${formatBytes(freeBytes)} are available to it. Use cluster_centroids_init 'kmeans' for it (a layers rule can set it per layer), ` +
        'or give the worker more memory (see CENTROID_KMEANS_MAX_BYTES).',
    );
    this.name = 'InsufficientMemoryError';
  }
}

/** Formats a byte count in the largest binary unit that keeps it at 1 or more, such as `78.2 KiB`. */
function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.max(0, Math.floor(bytes))} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** Thread options of `optimalKmeans1dCentroids`. */
export interface OptimalKmeansOptions {
  /**
   * Worker threads for the programme; 1 runs it on the calling thread. Defaults to
   * CENTROID_KMEANS_THREADS when set, else to the available parallelism, at most 4.
   */
  threads?: number;
  /** The least N × distinct values that uses threads. */
  minParallelWork?: number;
  /** The most N × distinct values of a segment that one worker solves whole. */
  wholeSegmentWork?: number;
  /** Bytes the programme may allocate; defaults to {@link availableBytes}. */
  freeBytes?: number;
}

/**
 * Returns the `count` centroids of an optimal k-means clustering of `values`, sorted
 * ascending. Each centroid is the float32 nearest to its cluster's mean, so the squared
 * error exceeds the exact optimum only by that rounding.
 *
 * With fewer distinct values than clusters, every distinct value is a centroid and the
 * largest one is repeated to fill the rest. Those duplicates receive no values in
 * assignment. Runs in O(n log n + N·m) time, split over worker threads when N·m is
 * large and their buffers fit (see threadsWithinMemory). Needs a sorted copy of the
 * values (4 bytes per value) while the prefix sums are built. On one thread it then needs
 * 80 bytes per distinct value: 24 of prefix sums, 24 of cost rows and 32 of SMAWK
 * buffers. Worker threads need 48 bytes per distinct value each, and the calling thread
 * 40: the prefix sums and the two rows it shares with them.
 *
 * NOTE: the N·m term dominates for large tensors, and threads divide it at best by their
 * number. On 2 threads of a 2-core machine, N = 256 took 347 s on 10M normal weights
 * (bench/results/engine.md), so large N on 100M weights takes tens of minutes.
 */
export function optimalKmeans1dCentroids(values: Float32Array, count: number, options: OptimalKmeansOptions = {}): Float32Array {
  const freeBytes = options.freeBytes ?? availableBytes();
  const forward = RunSumsOfValues.fromValues(values, freeBytes, count);
  const m = forward.size;
  const centroids = new Float32Array(count);
  if (m <= count) {
    for (let k = 0; k < m; k++) centroids[k] = forward.mean(k, k + 1);
    centroids.fill(centroids[m - 1] as number, m);
    return centroids;
  }

  const threads = planThreads(m, count, { ...options, freeBytes });
  const starts = [0];
  if (threads > 1) {
    starts.push(...splitOptimallyInParallel(forward, count, threads, options.wholeSegmentWork));
  } else {
    splitOptimally(forward, new SmawkScratch(m), 0, m, count, starts);
  }
  starts.push(m);

  for (let k = 0; k < count; k++) {
    centroids[k] = forward.mean(starts[k] as number, starts[k + 1] as number);
  }
  return centroids;
}

/**
 * Weighted prefix sums over distinct values: counts, and Σ c·(v − mean) and
 * Σ c·(v − mean)², which give the squared error of any run about its own mean in O(1).
 * Subtracting the overall mean keeps the sums small, which limits cancellation. The
 * three sums of index i are stored next to each other, at 3i, 3i + 1 and 3i + 2, so one
 * run error reads two cache lines instead of six when the arrays outgrow the caches.
 */
class RunSumsOfValues implements RunSums {
  readonly size: number;
  private readonly centre: number;
  /** Count, sum and sum of squares of the distinct values [0, i), at 3i, 3i + 1 and 3i + 2. Read directly by LayerMatrix. */
  readonly sums: Float64Array;

  private constructor(size: number, centre: number) {
    this.size = size;
    this.centre = centre;
    // Shared, so that worker threads read the sums without a copy.
    this.sums = new Float64Array(new SharedArrayBuffer(8 * 3 * (size + 1)));
  }

  /**
   * Builds the sums from a sorted copy of `values`, which is dropped afterwards, so no
   * separate arrays of distinct values and counts are kept. -0 and +0 compare equal, so
   * they form one distinct value.
   */
  static fromValues(values: Float32Array, freeBytes: number, clusters: number): RunSumsOfValues {
    const sorted = Float32Array.from(values).sort();
    let size = 0;
    let total = 0;
    for (let i = 0; i < sorted.length; i++) {
      if (i === 0 || sorted[i] !== sorted[i - 1]) size++;
      total += sorted[i] as number;
    }
    // With no more distinct values than clusters, only the prefix sums are allocated.
    const needed = (size <= clusters ? 24 : SERIAL_BYTES_PER_VALUE) * (size + 1);
    if (needed > freeBytes) throw new InsufficientMemoryError(needed, freeBytes, size);

    const runs = new RunSumsOfValues(size, total / sorted.length);
    let index = 0;
    let i = 0;
    while (i < sorted.length) {
      const value = sorted[i] as number;
      let count = 0;
      while (i < sorted.length && sorted[i] === value) {
        count++;
        i++;
      }
      const centred = value - runs.centre;
      const { sums } = runs;
      const base = 3 * index;
      sums[base + 3] = (sums[base] as number) + count;
      sums[base + 4] = (sums[base + 1] as number) + count * centred;
      sums[base + 5] = (sums[base + 2] as number) + count * centred * centred;
      index++;
    }
    return runs;
  }

  /** Returns the float32 nearest to the weighted mean of the distinct values [from, to), which must not be empty. */
  mean(from: number, to: number): number {
    const { sums } = this;
    const weight = (sums[3 * to] as number) - (sums[3 * from] as number);
    const sum = (sums[3 * to + 1] as number) - (sums[3 * from + 1] as number);
    return Math.fround(this.centre + sum / weight);
  }
}

/**
 * Returns the worker threads that `optimalKmeans1dCentroids` uses for `m` distinct values
 * in `count` clusters, or 1 when it runs on the calling thread.
 */
export function planThreads(m: number, count: number, options: OptimalKmeansOptions = {}): number {
  const requested = options.threads ?? defaultThreads();
  // One cluster is the mean of everything, with nothing to split.
  if (count < 2 || count * m < (options.minParallelWork ?? PARALLEL_MIN_WORK)) return 1;
  return threadsWithinMemory(requested, m, options.freeBytes ?? availableBytes());
}

/**
 * Returns how many of `requested` threads fit their buffers for `m` distinct values in
 * half the free memory, at least 1. One thread runs on the calling thread, whose buffers
 * are smaller, so a tensor too large for two workers runs there.
 */
function threadsWithinMemory(requested: number, m: number, freeBytes: number): number {
  const fitting = Math.floor(freeBytes / 2 / (WORKER_BYTES_PER_VALUE * m));
  return Math.max(1, Math.min(requested, fitting));
}

/**
 * Returns the bytes the programme may allocate: the free memory, less where a memory limit
 * on the process, such as a container's, leaves less, and at most CENTROID_KMEANS_MAX_BYTES
 * when that is set. The setting lets several workers share one machine's memory.
 */
export function availableBytes(): number {
  // constrainedMemory() is 0 when the limit is unknown, and very large when there is none.
  const limit = process.constrainedMemory() || Infinity;
  const free = Math.min(freemem(), limit - process.memoryUsage.rss());
  const setting = readPositiveIntegerSetting(process.env, 'CENTROID_KMEANS_MAX_BYTES', 'a positive integer number of bytes');
  return setting === null ? free : Math.min(free, setting);
}

/** Reads CENTROID_KMEANS_THREADS, or picks the available parallelism up to DEFAULT_MAX_THREADS. */
function defaultThreads(): number {
  const setting = readPositiveIntegerSetting(process.env, 'CENTROID_KMEANS_THREADS', 'a positive integer');
  return setting ?? Math.min(DEFAULT_MAX_THREADS, availableParallelism());
}

/**
 * Checks CENTROID_KMEANS_THREADS and CENTROID_KMEANS_MAX_BYTES in `env`, so that a command
 * or a worker can stop at start on an invalid value instead of failing the first
 * kmeans_1d_optimal clustering. Raises RangeError naming the variable.
 */
export function checkKmeansSettings(env: NodeJS.ProcessEnv): void {
  readPositiveIntegerSetting(env, 'CENTROID_KMEANS_THREADS', 'a positive integer');
  readPositiveIntegerSetting(env, 'CENTROID_KMEANS_MAX_BYTES', 'a positive integer number of bytes');
}

/** Returns the variable `name` of `env` as a number, or null when it is unset or empty. Raises RangeError unless it is plain decimal digits above 0. */
function readPositiveIntegerSetting(env: NodeJS.ProcessEnv, name: string, expected: string): number | null {
  const setting = env[name];
  if (setting === undefined || setting === '') return null;
  if (!/^[1-9]\d*$/.test(setting)) {
    throw new RangeError(`${name} must be ${expected}, got "${setting}"`);
  }
  return Number(setting);
}
