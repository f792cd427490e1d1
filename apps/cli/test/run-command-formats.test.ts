import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { fixturePath } from '@centroid/examples';
import type { Metrics } from '@centroid/contracts';
import { packTfjsModel, readKerasArchive, readModel, unpackTfjsModel, writeTfjsModel } from '@centroid/model-io';
import { REPOSITORY_ROOT, centroid as runCentroid, type CliResult } from './run-cli.js';

// A Keras 3 .keras archive of convolution and Dense layers, from model-io's fixtures.
const KERAS_ARCHIVE = fileURLToPath(new URL('../../../packages/model-io/test/fixtures/archive-convolutional.keras', import.meta.url));
// A TF.js folder (model.json and one shard) of Dense and BatchNormalization layers.
const TFJS_FOLDER = fileURLToPath(new URL('../../../packages/examples/fixtures/formats/keras2/batch-norm.tfjs', import.meta.url));

/** Runs the CLI as `pnpm centroid` does from `workingDirectory`, so default output paths land there. */
function centroid(args: string[], workingDirectory: string): Promise<CliResult> {
  return runCentroid(args, { cwd: REPOSITORY_ROOT, env: { npm_lifecycle_event: 'centroid', INIT_CWD: workingDirectory } });
}

describe('centroid run with model formats', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'centroid-cli-formats-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('returns a .keras model as .keras', async () => {
    const run = await centroid(['run', KERAS_ARCHIVE, '--number-of-clusters', '3'], dir);
    assert.equal(run.code, 0, run.stderr);
    const out = path.join(dir, 'archive-convolutional-clustered.keras');
    assert.equal((await readModel(out)).format, 'keras');
  });

  it('reads a TF.js folder and writes a TF.js zip', async () => {
    const zipPath = path.join(dir, 'source.tfjs.zip');
    await writeTfjsModel(await readKerasArchive(KERAS_ARCHIVE), zipPath, new Map());
    const folder = path.join(dir, 'tfjs-model');
    await unpackTfjsModel(zipPath, folder);

    const run = await centroid(['run', folder, '--number-of-clusters', '3'], dir);
    assert.equal(run.code, 0, run.stderr);
    const out = path.join(dir, 'tfjs-model-clustered.tfjs.zip');
    assert.ok((await stat(out)).size > 0);
    assert.equal((await readModel(out)).format, 'tfjs');
  });

  it('converts with --output-format tfjs', async () => {
    const out = path.join(dir, 'converted.zip');
    const run = await centroid(['run', KERAS_ARCHIVE, '--number-of-clusters', '3', '--output-format', 'tfjs', '--out', out], dir);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await readModel(out)).format, 'tfjs');
  });

  it('converts float16 weights into .keras', async () => {
    const out = path.join(dir, 'float16.keras');
    const run = await centroid(['run', fixturePath('formats/keras2/float16.h5'), '--number-of-clusters', '3', '--output-format', 'keras', '--out', out], dir);
    assert.equal(run.code, 0, run.stderr);
    const written = await readModel(out);
    assert.equal(written.format, 'keras');
    assert.deepEqual(
      written.weights.map((weight) => weight.dtype),
      ['float16', 'float16', 'float16', 'float16'],
    );
  });

  it('rejects an unsupported conversion', async () => {
    // Keras 3 rejects "/" in layer names, so such a model cannot become a .keras archive.
    const run = await centroid(['run', fixturePath('formats/keras2/slash-names.h5'), '--number-of-clusters', '3', '--output-format', 'keras'], dir);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /output_format "keras": slash-names\.h5 cannot be written as a Keras 3 archive/);
    assert.match(run.stderr, /layer "block\/dense" \(Dense\): Keras 3 rejects "\/" in layer names/);
  });

  it('converts a .keras model into .h5', async () => {
    const out = path.join(dir, 'converted.h5');
    const run = await centroid(['run', KERAS_ARCHIVE, '--number-of-clusters', '3', '--output-format', 'keras_h5', '--out', out], dir);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await readModel(out)).format, 'keras_h5');
  });

  it('measures a TF.js folder as its packed zip', async () => {
    const packed = path.join(dir, 'batch-norm-packed.tfjs.zip');
    await packTfjsModel(TFJS_FOLDER, packed);
    const packedBytes = (await stat(packed)).size;

    const sizes: Metrics['size'][] = [];
    for (const [format, out] of [
      ['tfjs', 'measured.tfjs.zip'],
      ['keras_h5', 'measured.h5'],
    ] as const) {
      const result = path.join(dir, `measured-${format}.json`);
      const run = await centroid(
        ['run', TFJS_FOLDER, '--number-of-clusters', '4', '--epochs', '0', '--output-format', format, '--out', path.join(dir, out), '--result', result],
        dir,
      );
      assert.equal(run.code, 0, run.stderr);
      sizes.push((JSON.parse(await readFile(result, 'utf8')) as Metrics).size);
    }

    const [tfjs, h5] = sizes;
    assert.equal(tfjs!.original_bytes, packedBytes);
    assert.equal(h5!.original_bytes, packedBytes);
    assert.equal(tfjs!.original_gzip_bytes, h5!.original_gzip_bytes);
    assert.ok(tfjs!.clustered_gzip_bytes < tfjs!.original_gzip_bytes, `clustered ${tfjs!.clustered_gzip_bytes} gzip bytes, original ${tfjs!.original_gzip_bytes}`);
  });

  it('infers the output format from --out', async () => {
    const out = path.join(dir, 'inferred.h5');
    const run = await centroid(['run', TFJS_FOLDER, '--number-of-clusters', '4', '--epochs', '0', '--out', out], dir);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await readModel(out)).format, 'keras_h5');
  });

  it('rejects --out disagreeing with --output-format', async () => {
    const out = path.join(dir, 'disagree.h5');
    const run = await centroid(['run', TFJS_FOLDER, '--number-of-clusters', '4', '--output-format', 'tfjs', '--out', out], dir);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--out \S*disagree\.h5 names a keras_h5 file/);
    assert.match(run.stderr, /--output-format is tfjs/);
    assert.equal(await stat(out).catch(() => null), null);
  });

  it('rejects --out disagreeing with the same format', async () => {
    const out = path.join(dir, 'same.keras');
    const run = await centroid(['run', TFJS_FOLDER, '--number-of-clusters', '4', '--output-format', 'same', '--out', out], dir);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--output-format is same, which is tfjs for this tfjs model/);
  });
});
