// Feeds mutated model and dataset files to the loaders and checks that each one either
// loads or raises a CentroidError with one of the product's codes: never another error,
// a crash or a hang. FUZZ_SEED picks another deterministic run (the default is fixed), and
// FUZZ_DUMP names a file to which every case and outcome is written as JSON.
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { ERROR_CODES, isCentroidError } from '@centroid/contracts';

import { inspectModelFile, NpzWriter, readKerasArchive, readKerasH5, toLayersModel } from '../src/index.js';
import { buildNpy, buildZip, bytesOf, npyHeader } from './archive-builders.js';
import { mutate, Random } from './fuzz-mutations.js';
import { fixture, temporaryFolder } from './helpers.js';

import type { TestContext } from 'node:test';
import type { FuzzLoader, FuzzOutcome, FuzzReply, FuzzRequest } from './fuzz-child-entry.js';
import type { FileKind } from './fuzz-mutations.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_204);

/** Mutants per kind of seed file. The h5 ones cost the most, so datasets make up the bulk. */
const H5_MUTANTS = 700;
const NPZ_MUTANTS = 900;
const NPY_MUTANTS = 700;
const KERAS_MUTANTS = 250;
const TFJS_MUTANTS = 250;
/** Mutated .h5 files also sent through the public loaders, each of which starts a child process. */
const PUBLIC_H5_SAMPLES = 8;

/** Time one file may take in the fuzz child before it counts as a hang. */
const FILE_TIMEOUT_MS = 15_000;
/** Deadline given to the public h5 loaders, whose own child process must stop a hang. */
const PUBLIC_TIMEOUT_MS = 10_000;

const CHILD_ENTRY = new URL(`./fuzz-child-entry${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
const PRODUCT_CODES = new Set(Object.keys(ERROR_CODES).filter((code) => code !== 'INTERNAL'));

interface FuzzCase {
  request: FuzzRequest;
  steps: string[];
  seedFile: string;
  /** Whether this is an unchanged seed, which must load, so that a loader failing every file cannot pass. */
  control: boolean;
}

interface FuzzResult {
  fuzzCase: FuzzCase;
  /** Null when the file took longer than FILE_TIMEOUT_MS. */
  outcome: FuzzOutcome | null;
  /** Child exit code or signal when the child died on this file. */
  crash: string | null;
}

const examplesFixture = (name: string) => fileURLToPath(new URL(`../../examples/fixtures/${name}`, import.meta.url));

async function* singleChunk(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** Seed NPY files: every dtype, both byte orders, both memory orders, scalars and empty arrays. */
function seedNpyFiles(): Uint8Array[] {
  const seeds = [
    buildNpy(npyHeader('<f4', [3, 4]), bytesOf(Float32Array.from({ length: 12 }, (_, index) => index / 3))),
    buildNpy(npyHeader('>f8', [2, 3], true), new Uint8Array(48).fill(0x3f)),
    buildNpy(npyHeader('<i8', [5]), bytesOf(new BigInt64Array([0n, 1n, -1n, 2n ** 40n, 7n]))),
    buildNpy(npyHeader('|u1', [2, 2, 2]), Uint8Array.from([0, 1, 2, 3, 250, 251, 252, 253])),
    buildNpy(npyHeader('|b1', [4]), Uint8Array.from([0, 1, 1, 0])),
    buildNpy(npyHeader('<f2', [3]), bytesOf(Uint16Array.from([0x3c00, 0xc000, 0x7c00]))),
    buildNpy(npyHeader('>i2', [2, 2], true), new Uint8Array(8).fill(0x81)),
    buildNpy(npyHeader('<u8', [2]), bytesOf(new BigUint64Array([3n, 2n ** 33n]))),
    buildNpy(`{'descr': '<f8', 'fortran_order': False, 'shape': (), }`, bytesOf(new Float64Array([3.5]))),
    buildNpy(npyHeader('<f4', [0, 3]), new Uint8Array(0)),
  ];
  return seeds;
}

/** Seed NPZ files: the committed fixtures and archives built here, stored, deflated and streamed. */
async function seedNpzFiles(npySeeds: Uint8Array[]): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  const writer = new NpzWriter(async (chunk) => {
    chunks.push(chunk.slice());
  });
  await writer.addNpy('x_train', singleChunk(npySeeds[0] as Uint8Array), 'x_train.npy');
  await writer.addNpy('y_train', singleChunk(npySeeds[2] as Uint8Array), 'y_train.npy');
  await writer.finish();

  return [
    await readFile(fixture('arrays-stored.npz')),
    await readFile(fixture('arrays-deflated.npz')),
    await readFile(examplesFixture('tiny-cnn.npz')),
    Buffer.concat(chunks),
    buildZip(npySeeds.slice(0, 5).map((data, index) => ({ name: `a${index}.npy`, data, method: index % 2 === 0 ? 8 : 0 }))),
  ];
}

async function seedH5Files(): Promise<{ name: string; bytes: Uint8Array }[]> {
  const names = ['small.h5', 'dense-adam.h5', 'keras3-sequential.h5', 'keras3-functional.h5', 'float16.h5', 'nested.h5', 'functional-cnn.h5'];
  const seeds = await Promise.all(names.map(async (name) => ({ name, bytes: await readFile(fixture(name)) })));
  for (const name of ['dense-mlp.h5', 'tiny-cnn.h5']) seeds.push({ name, bytes: await readFile(examplesFixture(name)) });
  return seeds;
}

/** The public loaders that run h5wasm in a child process with a deadline, by the fuzz loader that stands for them. */
const PUBLIC_H5_LOADERS: Partial<Record<FuzzLoader, (path: string, filename: undefined, options: { timeoutMs: number }) => Promise<unknown>>> = {
  readKerasH5,
  inspectModelFile,
  readKerasArchive,
};

/** A kind of seed file: its file extension, how it is mutated, and the loaders that read it. */
interface SeedKind {
  extension: string;
  mutation: FileKind;
  loaders: FuzzLoader[];
}

const SEED_KINDS = {
  h5: { extension: 'h5', mutation: 'h5', loaders: ['readKerasH5', 'inspectModelFile'] },
  keras: { extension: 'keras', mutation: 'zip', loaders: ['readKerasArchive'] },
  tfjs: { extension: 'zip', mutation: 'zip', loaders: ['readTfjsModel'] },
  npz: { extension: 'npz', mutation: 'npz', loaders: ['readNpz', 'readNpzArrayNames'] },
  npy: { extension: 'npy', mutation: 'npy', loaders: ['readNpy'] },
} satisfies Record<string, SeedKind>;

const formatsFixture = (path: string) => examplesFixture(`formats/${path}`);

async function seedKerasArchives(): Promise<{ name: string; bytes: Uint8Array }[]> {
  const names = ['batch-norm', 'branches', 'gru-reset-before', 'nested-sequential', 'embedding-conv1d'];
  return Promise.all(names.map(async (name) => ({ name: `${name}.keras`, bytes: await readFile(formatsFixture(`keras3/${name}.keras`)) })));
}

/** Zips TF.js model folders, model.json and shards, stored for some and deflated for others. */
async function seedTfjsZips(): Promise<{ name: string; bytes: Uint8Array }[]> {
  const folders = ['keras2/branches.tfjs', 'keras2/lstm.tfjs', 'keras2/batch-norm.tfjs', 'keras3/nested-sequential.tfjs'];
  return Promise.all(
    folders.map(async (folder, index) => {
      const names = (await readdir(formatsFixture(folder))).sort();
      const members = await Promise.all(
        names.map(async (name) => ({ name, data: await readFile(formatsFixture(`${folder}/${name}`)), method: (index % 2 === 0 ? 0 : 8) as 0 | 8 })),
      );
      return { name: `${folder}.zip`, bytes: buildZip(members) };
    }),
  );
}

/** Writes `count` mutants of the seeds into `folder` and returns a case per mutant and loader. */
async function writeMutants(
  folder: string,
  kindName: keyof typeof SEED_KINDS,
  seeds: { name: string; bytes: Uint8Array }[],
  count: number,
  random: Random,
  cases: FuzzCase[],
): Promise<void> {
  const kind: SeedKind = SEED_KINDS[kindName];
  const loaders = kind.loaders;
  for (const [index, seed] of seeds.entries()) {
    for (const loader of loaders) {
      const path = join(folder, `${kindName}-seed-${index}.${kind.extension}`);
      await writeFile(path, seed.bytes);
      cases.push({ request: { index: cases.length, loader, path }, steps: [], seedFile: seed.name, control: true });
    }
  }

  for (let i = 0; i < count; i++) {
    const seed = seeds[i % seeds.length] as { name: string; bytes: Uint8Array };
    const mutant = mutate(seed.bytes, kind.mutation, random);
    const path = join(folder, `${kindName}-${i}.${kind.extension}`);
    await writeFile(path, mutant.bytes);
    // Each mutant goes to one loader, alternating, so that both see every kind of mutation.
    const loader = loaders[i % loaders.length] as FuzzLoader;
    cases.push({ request: { index: cases.length, loader, path }, steps: mutant.steps, seedFile: seed.name, control: false });
  }
}

/**
 * Runs the cases in a fuzz child, one file at a time. A file that takes longer than
 * FILE_TIMEOUT_MS, or on which the child dies, is recorded, and a new child takes the rest.
 */
async function runCases(cases: FuzzCase[]): Promise<FuzzResult[]> {
  const results: FuzzResult[] = [];
  let next = 0;

  while (next < cases.length) {
    const child = fork(CHILD_ENTRY, [], {
      execArgv: process.execArgv.filter((argument) => !argument.startsWith('--test')),
      env: childEnv(),
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-2000);
    });

    next = await new Promise<number>((resolve) => {
      let current = next;
      let timer: NodeJS.Timeout | null = null;

      const send = () => {
        if (current >= cases.length) {
          child.disconnect();
          resolve(current);
          return;
        }
        timer = setTimeout(() => {
          results.push({ fuzzCase: cases[current] as FuzzCase, outcome: null, crash: null });
          child.removeAllListeners('exit');
          child.kill('SIGKILL');
          resolve(current + 1);
        }, FILE_TIMEOUT_MS);
        child.send((cases[current] as FuzzCase).request);
      };

      child.on('message', (reply: FuzzReply) => {
        if (timer !== null) clearTimeout(timer);
        results.push({ fuzzCase: cases[reply.index] as FuzzCase, outcome: reply.outcome, crash: null });
        current = reply.index + 1;
        if (reply.trapped) {
          child.removeAllListeners('exit');
          child.kill('SIGKILL');
          resolve(current);
          return;
        }
        send();
      });
      child.on('exit', (code, signal) => {
        if (timer !== null) clearTimeout(timer);
        if (current < cases.length) {
          results.push({ fuzzCase: cases[current] as FuzzCase, outcome: null, crash: `exit code ${code}, signal ${signal}: ${stderr}` });
          resolve(current + 1);
        }
      });
      send();
    });
  }
  return results;
}

function childEnv(): NodeJS.ProcessEnv {
  // The test runner's variable would make the child report as a test process.
  const { NODE_TEST_CONTEXT: _testContext, ...env } = process.env;
  return env;
}

function isAccepted(outcome: FuzzOutcome): boolean {
  return outcome.ok || (outcome.name === 'CentroidError' && outcome.code !== null && PRODUCT_CODES.has(outcome.code));
}

function describeCase(fuzzCase: FuzzCase): string {
  return `${fuzzCase.request.loader} on ${fuzzCase.request.path} (mutant of ${fuzzCase.seedFile}: ${fuzzCase.steps.join('; ')})`;
}

async function assertPublicLoaderOutcome(run: () => Promise<unknown>, what: string): Promise<void> {
  try {
    await run();
  } catch (error) {
    assert.ok(isCentroidError(error), `${what} raised ${String(error)}, not a CentroidError`);
    assert.ok(PRODUCT_CODES.has(error.code), `${what} raised code ${error.code}`);
  }
}

describe('fuzzing the loaders', () => {
  test(`every outcome is a load or a product error (seed ${SEED})`, { timeout: 600_000 }, async (t: TestContext) => {
    const folder = await temporaryFolder(t);
    const random = new Random(SEED);
    const cases: FuzzCase[] = [];

    const npySeeds = seedNpyFiles();
    await writeMutants(folder, 'h5', await seedH5Files(), H5_MUTANTS, random, cases);
    await writeMutants(folder, 'npz', (await seedNpzFiles(npySeeds)).map((bytes, index) => ({ name: `npz seed ${index}`, bytes })), NPZ_MUTANTS, random, cases);
    await writeMutants(folder, 'npy', npySeeds.map((bytes, index) => ({ name: `npy seed ${index}`, bytes })), NPY_MUTANTS, random, cases);
    await writeMutants(folder, 'keras', await seedKerasArchives(), KERAS_MUTANTS, random, cases);
    await writeMutants(folder, 'tfjs', await seedTfjsZips(), TFJS_MUTANTS, random, cases);

    const started = Date.now();
    const results = await runCases(cases);
    const seconds = (Date.now() - started) / 1000;
    const trapped = results.filter((result) => result.outcome?.ok === false && /memory access out of bounds/.test(result.outcome.message)).length;

    const counts = { loaded: 0, rejected: 0 };
    const codes = new Map<string, number>();
    for (const { outcome } of results) {
      if (outcome === null) continue;
      if (outcome.ok) counts.loaded++;
      else counts.rejected++;
      if (!outcome.ok && outcome.code !== null) codes.set(outcome.code, (codes.get(outcome.code) ?? 0) + 1);
    }
    t.diagnostic(`${results.length} files in ${seconds.toFixed(1)} s: ${counts.loaded} loaded, ${counts.rejected} rejected, ${trapped} h5wasm traps`);
    t.diagnostic(`codes: ${[...codes].map(([code, count]) => `${code} ${count}`).join(', ')}`);

    const dumpPath = process.env.FUZZ_DUMP;
    if (dumpPath !== undefined) {
      await writeFile(dumpPath, JSON.stringify(results.map((result) => ({ ...result.fuzzCase, outcome: result.outcome, crash: result.crash }))));
    }
    assert.equal(results.length, cases.length, 'every case has a result');

    const controls = results.filter((result) => result.fuzzCase.control);
    assert.ok(controls.length > 0, 'the seeds are fuzzed unchanged too');
    assert.deepEqual(
      controls.filter((result) => result.outcome?.ok !== true).map((result) => `${describeCase(result.fuzzCase)}: ${JSON.stringify(result.outcome)}`),
      [],
      'every unchanged seed loads',
    );
    assert.ok(results.length - controls.length >= 1000, `only ${results.length - controls.length} mutated files were fuzzed`);

    const crashes = results.filter((result) => result.crash !== null);
    assert.deepEqual(
      crashes.map((result) => `${describeCase(result.fuzzCase)}: ${result.crash}`),
      [],
      'no file crashes the process',
    );

    // A hang inside h5wasm cannot be stopped in-process, so readKerasH5, inspectModelFile and
    // readKerasArchive run it in a child with a deadline. Each hang found here must end as MODEL_INVALID there,
    // which also shows that the hang was in the HDF5 reading and not in building the model.
    const hangs = results.filter((result) => result.outcome === null && result.crash === null);
    for (const { fuzzCase } of hangs) {
      const { loader, path } = fuzzCase.request;
      const publicLoader = PUBLIC_H5_LOADERS[loader];
      assert.ok(publicLoader !== undefined, `${describeCase(fuzzCase)} hangs`);
      t.diagnostic(`hang, checked against the child deadline: ${describeCase(fuzzCase)}`);
      await assert.rejects(publicLoader(path, undefined, { timeoutMs: PUBLIC_TIMEOUT_MS }), (error: unknown) => {
        assert.ok(isCentroidError(error), `expected a CentroidError from ${describeCase(fuzzCase)}, got ${String(error)}`);
        assert.equal(error.code, 'MODEL_INVALID', `${describeCase(fuzzCase)}: ${error.message}`);
        return true;
      }, `${describeCase(fuzzCase)} hangs after its HDF5 reading finished`);
    }

    const unexpected = results.filter((result) => result.outcome !== null && !isAccepted(result.outcome));
    assert.deepEqual(
      unexpected.map((result) => `${describeCase(result.fuzzCase)}: ${JSON.stringify(result.outcome)}`),
      [],
      'every error is a CentroidError with a product code',
    );
  });

  test('public h5 loaders return product errors', { timeout: 300_000 }, async (t: TestContext) => {
    // A few mutants through the real child processes, so that their error mapping is fuzzed too.
    const folder = await temporaryFolder(t);
    const random = new Random(SEED + 1);
    const seeds = await seedH5Files();
    for (let i = 0; i < PUBLIC_H5_SAMPLES; i++) {
      const seed = seeds[i % seeds.length] as { name: string; bytes: Uint8Array };
      const mutant = mutate(seed.bytes, 'h5', random);
      const path = join(folder, `public-${i}.h5`);
      await writeFile(path, mutant.bytes);
      const what = `mutant ${i} of ${seed.name} (${mutant.steps.join('; ')})`;

      await assertPublicLoaderOutcome(() => inspectModelFile(path, undefined, { timeoutMs: PUBLIC_TIMEOUT_MS }), `inspectModelFile on ${what}`);
      await assertPublicLoaderOutcome(async () => {
        const { model } = await toLayersModel(await readKerasH5(path, undefined, { timeoutMs: PUBLIC_TIMEOUT_MS }));
        model.dispose();
      }, `readKerasH5 and toLayersModel on ${what}`);
    }
  });
});
