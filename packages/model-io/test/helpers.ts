// Shared by the model-io tests: fixture paths, temporary folders, the Python venv, and
// raw access to HDF5 files for bit-level comparisons.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { readDatasetBytes } from '../src/hdf5/dataset-bytes.js';
import { withH5FileCopy } from '../src/hdf5/h5wasm.js';

import type { TestContext } from 'node:test';
import type { H5File } from '../src/hdf5/h5wasm.js';

const testFolder = dirname(fileURLToPath(import.meta.url));
export const repositoryRoot = join(testFolder, '..', '..', '..');
export const venvPython = join(repositoryRoot, '.venv', 'bin', 'python');

/** Returns the path of a committed fixture, made by `test/fixtures/make_fixtures.py`. */
export function fixture(name: string): string {
  return join(testFolder, 'fixtures', name);
}

/** Creates a temporary folder that is deleted when the test ends. */
export async function temporaryFolder(t: TestContext): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'model-io-test-'));
  t.after(() => rm(folder, { recursive: true, force: true }));
  return folder;
}

/** Returns the reason to skip a test that needs Keras, or undefined when the venv exists. */
export function pythonSkipReason(): string | undefined {
  return existsSync(venvPython) ? undefined : `no Python venv at ${venvPython}; run pnpm setup:python to create it`;
}

/** Runs a Python script of this folder with the repository venv. */
export async function runPython(script: string, args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(venvPython, [join(testFolder, script), ...args], {
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

/** Contents of an HDF5 file: raw dataset bytes and attribute values by absolute path. */
export interface Hdf5Snapshot {
  datasets: Map<string, Uint8Array>;
  /** Keyed by `path@attribute`. */
  attributes: Map<string, unknown>;
}

function walk(file: H5File, path: string, snapshot: Hdf5Snapshot): void {
  const entity = file.get(path);
  if (entity === null || !('attrs' in entity)) {
    return;
  }
  for (const [name, attribute] of Object.entries(entity.attrs)) {
    const value = attribute.value;
    snapshot.attributes.set(`${path}@${name}`, ArrayBuffer.isView(value) ? Array.from(value as Float64Array) : value);
  }
  if (entity.type === 'Dataset') {
    snapshot.datasets.set(path, readDatasetBytes(file, path));
    return;
  }
  if ('keys' in entity) {
    for (const key of entity.keys()) {
      walk(file, path === '/' ? `/${key}` : `${path}/${key}`, snapshot);
    }
  }
}

/** Reads every dataset's raw bytes and every attribute value of an HDF5 file. */
export function snapshotHdf5(path: string): Promise<Hdf5Snapshot> {
  return withH5FileCopy(path, (file) => {
    const snapshot: Hdf5Snapshot = { datasets: new Map(), attributes: new Map() };
    walk(file, '/', snapshot);
    return snapshot;
  });
}

/** Returns the largest absolute difference between two equally long arrays. */
export function maxAbsoluteDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) {
    throw new Error(`lengths differ: ${actual.length} and ${expected.length}`);
  }
  let max = 0;
  for (let index = 0; index < actual.length; index++) {
    max = Math.max(max, Math.abs((actual[index] as number) - (expected[index] as number)));
  }
  return max;
}
