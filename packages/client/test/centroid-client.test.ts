// Client behaviour that the end-to-end test cannot provoke from a well-behaved server:
// error bodies that are not problem+json, and downloads whose checksum does not match.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CentroidApiError, CentroidClient, ChecksumMismatchError } from '../src/index.js';

describe('CentroidClient', () => {
  let folder: string;
  let client: CentroidClient;
  const server = http.createServer((request, response) => {
    if (request.url === '/v1/jobs/gateway') {
      response.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad gateway</h1>');
      return;
    }
    if (request.url === '/v1/jobs/problem') {
      response.writeHead(404, { 'content-type': 'application/problem+json' });
      response.end(JSON.stringify({ type: 'https://centroid.dev/problems/job-not-found', title: 'Job not found', status: 404, detail: 'Job problem was not found.', code: 'JOB_NOT_FOUND', request_id: 'req_1' }));
      return;
    }
    if (request.url === '/v1/jobs/job-1/artifacts/model.h5') {
      response.writeHead(200, { 'content-type': 'application/x-hdf5', 'x-checksum-sha256': '0'.repeat(64) }).end('tampered bytes');
      return;
    }
    response.writeHead(500).end();
  });

  before(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    client = new CentroidClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` });
    folder = await mkdtemp(path.join(tmpdir(), 'centroid-client-'));
  });

  after(async () => {
    server.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('raises the problem body as sent', async () => {
    await assert.rejects(client.getJob('problem'), (error: unknown) => {
      assert.ok(error instanceof CentroidApiError);
      assert.equal(error.code, 'JOB_NOT_FOUND');
      assert.equal(error.status, 404);
      assert.equal(error.message, 'Job problem was not found.');
      assert.equal(error.problem.request_id, 'req_1');
      return true;
    });
  });

  it('describes a response without a problem body', async () => {
    await assert.rejects(client.getJob('gateway'), (error: unknown) => {
      assert.ok(error instanceof CentroidApiError);
      assert.equal(error.code, 'INTERNAL');
      assert.equal(error.status, 502);
      assert.match(error.message, /returned HTTP 502: <h1>Bad gateway<\/h1>/);
      return true;
    });
  });

  it('rejects a download with a wrong checksum', async () => {
    const destination = path.join(folder, 'model.h5');
    await assert.rejects(client.downloadArtifact('job-1', 'model.h5', destination), ChecksumMismatchError);
    assert.deepEqual(await readdir(folder), [], 'neither the file nor a partial download is left');
  });
});
