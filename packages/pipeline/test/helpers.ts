// Shared set-up for the pipeline tests: parameters, temporary folders and small NPZ files.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { JobParamsSchema, type JobParamsInput } from '@centroid/contracts';
import { encodeNpz, type NpyArray } from '@centroid/examples';
import type { PipelineInput } from '../src/index.js';

export async function withTempDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'centroid-pipeline-'));
  try {
    return await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function writeNpz(file: string, arrays: Record<string, NpyArray>): Promise<string> {
  await writeFile(file, encodeNpz(arrays));
  return file;
}

export function pipelineInput(
  modelPath: string,
  datasetPath: string | null,
  outDir: string,
  params: JobParamsInput,
): PipelineInput {
  return {
    modelPath,
    modelFilename: path.basename(modelPath),
    datasetPath,
    datasetFilename: datasetPath === null ? null : path.basename(datasetPath),
    params: JobParamsSchema.parse(params),
    outDir,
  };
}

/** Returns the float32 values' bit patterns, so that -0, NaN payloads and rounding all count. */
export function bitsOf(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}
