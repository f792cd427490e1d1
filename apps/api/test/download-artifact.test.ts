import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Job, Problem } from '@centroid/contracts';
import { createApiFixture, type ApiFixture } from './api-fixture.js';
import { SAMPLE_METRICS, artifactEntry, createQueuedJob, createRunningJob } from './job-fixtures.js';

const CONTENT = Buffer.from('0123456789abcdefghij');
const SHA256 = createHash('sha256').update(CONTENT).digest('hex');

describe('GET /v1/jobs/{id}/artifacts/{name}', () => {
  let fixture: ApiFixture;
  let job: Job;

  before(async () => {
    fixture = await createApiFixture();

    job = await createRunningJob(fixture.store);
    const workDir = await fixture.artifacts.createWorkDir(job.id);
    await writeFile(path.join(workDir, 'model.h5'), CONTENT);
    await fixture.artifacts.publishArtifacts(job.id, [{ name: 'model.h5', path: path.join(workDir, 'model.h5'), contentType: 'application/x-hdf5' }]);
    await fixture.store.setResult(job.id, SAMPLE_METRICS, [artifactEntry(job.id, 'model.h5', CONTENT.length, SHA256, 'application/x-hdf5')]);
  });

  after(() => fixture.close());

  function download(name: string, headers: Record<string, string> = {}, jobId = job.id) {
    return fixture.app.inject({ method: 'GET', url: `/v1/jobs/${jobId}/artifacts/${name}`, headers });
  }

  it('streams the whole artifact with its checksum', async () => {
    const response = await download('model.h5');

    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.rawPayload, CONTENT);
    assert.equal(response.headers['content-length'], String(CONTENT.length));
    assert.equal(response.headers['content-type'], 'application/x-hdf5');
    assert.equal(response.headers['x-checksum-sha256'], SHA256);
    assert.equal(response.headers.digest, `sha-256=${Buffer.from(SHA256, 'hex').toString('base64')}`);
    assert.equal(response.headers['accept-ranges'], 'bytes');
    assert.equal(response.headers.etag, `"${SHA256}"`);
    assert.equal(response.headers['content-disposition'], 'attachment; filename="model.h5"');
  });

  const ranges: [string, number, number][] = [
    ['bytes=2-5', 2, 5],
    ['bytes=15-', 15, 19],
    ['bytes=-4', 16, 19],
    ['bytes=10-999', 10, 19],
    ['bytes=-999', 0, 19],
  ];
  for (const [header, start, end] of ranges) {
    it(`serves range ${header}`, async () => {
      const response = await download('model.h5', { range: header });

      assert.equal(response.statusCode, 206);
      assert.deepEqual(response.rawPayload, CONTENT.subarray(start, end + 1));
      assert.equal(response.headers['content-range'], `bytes ${start}-${end}/${CONTENT.length}`);
      assert.equal(response.headers['content-length'], String(end - start + 1));
    });
  }

  it('returns 416 for a range past the end', async () => {
    const response = await download('model.h5', { range: 'bytes=20-30' });

    assert.equal(response.statusCode, 416);
    assert.equal(response.headers['content-range'], `bytes */${CONTENT.length}`);
    assert.equal(response.json<Problem>().code, 'RANGE_NOT_SATISFIABLE');
    assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
    assert.equal(response.headers['content-disposition'], undefined);
    assert.equal(response.headers['repr-digest'], undefined);
  });

  it('sends everything for several ranges', async () => {
    const response = await download('model.h5', { range: 'bytes=0-1,4-5' });
    assert.equal(response.statusCode, 200);
    assert.equal(response.rawPayload.length, CONTENT.length);
  });

  it('ignores a range for a changed file', async () => {
    const stale = await download('model.h5', { range: 'bytes=0-1', 'if-range': '"another-etag"' });
    assert.equal(stale.statusCode, 200);

    const current = await download('model.h5', { range: 'bytes=0-1', 'if-range': `"${SHA256}"` });
    assert.equal(current.statusCode, 206);
  });

  it('returns 404 for an unknown artifact', async () => {
    for (const name of ['metrics.json', '..%2Fuploads']) {
      const response = await download(name);
      assert.equal(response.statusCode, 404, name);
      assert.equal(response.json<Problem>().code, 'ARTIFACT_NOT_FOUND');
    }
  });

  it('returns 404 for artifacts of an unfinished job', async () => {
    const queued = await createQueuedJob(fixture.store);
    const response = await download('model.h5', {}, queued.id);
    assert.equal(response.statusCode, 404);
    assert.equal(response.json<Problem>().code, 'ARTIFACT_NOT_FOUND');
  });

  it('returns 404 when the file vanished from disk', async () => {
    const other = await createRunningJob(fixture.store);
    await mkdir(path.join(fixture.dataDir, 'artifacts', other.id), { recursive: true });
    await fixture.store.setResult(other.id, SAMPLE_METRICS, [artifactEntry(other.id, 'model.h5', 1, SHA256, 'application/x-hdf5')]);

    const response = await download('model.h5', {}, other.id);
    assert.equal(response.statusCode, 404);
  });
});
