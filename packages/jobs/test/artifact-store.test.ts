import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ArtifactStore, createJobId } from '../src/index.js';

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function chunksOf(data: Buffer, size: number): Readable {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += size) chunks.push(data.subarray(offset, offset + size));
  return Readable.from(chunks);
}

async function exists(filePath: string): Promise<boolean> {
  return stat(filePath).then(
    () => true,
    () => false,
  );
}

describe('ArtifactStore', () => {
  let root: string;
  let store: ArtifactStore;

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'centroid-artifacts-'));
    store = new ArtifactStore({ root });
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('streams an upload with its checksum', async () => {
    const jobId = createJobId();
    const content = Buffer.alloc(100_000, 7);

    const upload = await store.saveUpload({ jobId, field: 'model', filename: 'dir/My Model.H5', source: chunksOf(content, 4096), maxBytes: 200_000 });

    assert.equal(upload.filename, 'My Model.H5');
    assert.equal(upload.path, path.join(root, 'uploads', jobId, 'model.h5'));
    assert.equal(upload.bytes, content.length);
    assert.equal(upload.sha256, sha256(content));
    assert.deepEqual(await readFile(upload.path), content);
  });

  it('rejects an oversized upload and removes it', async () => {
    const jobId = createJobId();
    const source = chunksOf(Buffer.alloc(10_000, 1), 1000);

    await assert.rejects(
      store.saveUpload({ jobId, field: 'dataset', filename: 'data.npz', source, maxBytes: 5000 }),
      (error: Error & { code?: string; location?: { field?: string } }) => {
        assert.equal(error.code, 'UPLOAD_TOO_LARGE');
        assert.equal(error.location?.field, 'dataset');
        assert.match(error.message, /5000 bytes/);
        return true;
      },
    );
    assert.equal(await exists(path.join(root, 'uploads', jobId, 'dataset.npz')), false);
    assert.equal(source.readableEnded, true, 'the rest of the source is consumed');
  });

  it('accepts an upload of exactly the limit', async () => {
    const upload = await store.saveUpload({
      jobId: createJobId(),
      field: 'model',
      filename: 'm.h5',
      source: chunksOf(Buffer.alloc(5000, 2), 1000),
      maxBytes: 5000,
    });
    assert.equal(upload.bytes, 5000);
  });

  it('removes the partial file when the source fails', async () => {
    const jobId = createJobId();
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(10);
      throw new Error('client disconnected');
    }

    await assert.rejects(store.saveUpload({ jobId, field: 'model', filename: 'm.h5', source: failing(), maxBytes: 100 }), /client disconnected/);
    assert.equal(await exists(path.join(root, 'uploads', jobId, 'model.h5')), false);
  });

  it('rejects a malformed job id', async () => {
    await assert.rejects(
      store.saveUpload({ jobId: '../escape', field: 'model', filename: 'm.h5', source: chunksOf(Buffer.alloc(1), 1), maxBytes: 10 }),
      /Invalid job id/,
    );
  });

  it('publishes artifacts with checksums', async () => {
    const jobId = createJobId();
    const workDir = await store.createWorkDir(jobId);
    await writeFile(path.join(workDir, 'model.h5'), 'clustered');
    await writeFile(path.join(workDir, 'metrics.json'), '{}');
    await writeFile(path.join(workDir, 'scratch.tmp'), 'not published');

    const published = await store.publishArtifacts(jobId, [
      { name: 'model.h5', path: path.join(workDir, 'model.h5'), contentType: 'application/x-hdf5' },
      { name: 'metrics.json', path: path.join(workDir, 'metrics.json'), contentType: 'application/json' },
    ]);

    assert.deepEqual(
      published.map((artifact) => [artifact.name, artifact.bytes, artifact.sha256]),
      [
        ['model.h5', 9, sha256('clustered')],
        ['metrics.json', 2, sha256('{}')],
      ],
    );
    assert.deepEqual((await readdir(path.join(root, 'artifacts', jobId))).sort(), ['metrics.json', 'model.h5']);
    assert.deepEqual(
      (await readdir(path.join(root, 'artifacts'))).filter((name) => name.startsWith('.staging')),
      [],
      'no staging folder is left behind',
    );

    const found = await store.findArtifact(jobId, 'model.h5');
    assert.equal(found?.bytes, 9);
    assert.equal(await store.findArtifact(jobId, 'scratch.tmp'), null);
    assert.equal(await store.findArtifact(jobId, '../uploads'), null);

    await store.removeWorkDir(workDir);
    assert.equal(await exists(workDir), false);
  });

  it('removes the work folders of one job', async () => {
    const jobId = createJobId();
    const otherJobId = createJobId();
    const leftovers = [await store.createWorkDir(jobId), await store.createWorkDir(jobId)];
    const other = await store.createWorkDir(otherJobId);
    await writeFile(path.join(leftovers[0]!, 'model.h5'), 'partial output');

    await store.removeWorkDirsOf(jobId);

    for (const folder of leftovers) assert.equal(await exists(folder), false, folder);
    assert.equal(await exists(other), true, 'another job keeps its work folder');
    await store.removeWorkDir(other);
  });

  it('publishes nothing when a file is missing', async () => {
    const jobId = createJobId();
    const workDir = await store.createWorkDir(jobId);
    await writeFile(path.join(workDir, 'model.h5'), 'clustered');

    await assert.rejects(
      store.publishArtifacts(jobId, [
        { name: 'model.h5', path: path.join(workDir, 'model.h5'), contentType: 'application/x-hdf5' },
        { name: 'missing.json', path: path.join(workDir, 'missing.json'), contentType: 'application/json' },
      ]),
      /ENOENT/,
    );
    assert.equal(await exists(path.join(root, 'artifacts', jobId)), false);
  });

  it('replaces artifacts of an earlier run', async () => {
    const jobId = createJobId();
    for (const content of ['first', 'second']) {
      const workDir = await store.createWorkDir(jobId);
      await writeFile(path.join(workDir, 'model.h5'), content);
      await store.publishArtifacts(jobId, [{ name: 'model.h5', path: path.join(workDir, 'model.h5'), contentType: 'application/x-hdf5' }]);
    }
    assert.equal(await readFile(path.join(root, 'artifacts', jobId, 'model.h5'), 'utf8'), 'second');
  });
});
