import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Job, JobPage, Problem } from '@centroid/contracts';
import { JobStore, createApiConnection, createJobId } from '@centroid/jobs';
import { buildLoggerOptions } from '../src/index.js';
import { createApiFixture, type ApiFixture } from './api-fixture.js';
import { SAMPLE_METRICS, artifactEntry, createQueuedJob, createRunningJob } from './job-fixtures.js';

describe('job read routes', () => {
  let fixture: ApiFixture;

  before(async () => {
    fixture = await createApiFixture();
  });

  after(() => fixture.close());

  it('returns a job with absolute URLs', async () => {
    const job = await createQueuedJob(fixture.store);
    const response = await fixture.app.inject({ method: 'GET', url: `/v1/jobs/${job.id}`, headers: { host: 'api.test:8080' } });

    assert.equal(response.statusCode, 200);
    const body = response.json<Job>();
    assert.equal(body.id, job.id);
    assert.equal(body.urls.self, `http://api.test:8080/v1/jobs/${job.id}`);
  });

  it('returns 404 for an unknown job', async () => {
    for (const id of [createJobId(), 'not-an-id']) {
      const response = await fixture.app.inject({ method: 'GET', url: `/v1/jobs/${id}` });
      assert.equal(response.statusCode, 404);
      assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
      const problem = response.json<Problem>();
      assert.equal(problem.code, 'JOB_NOT_FOUND');
      assert.equal(problem.type, 'https://centroid.dev/problems/job-not-found');
      assert.ok(problem.request_id?.startsWith('req_'));
      assert.equal(problem.detail, `No job has the id '${id}'.`);
    }
  });

  it('lists the artifacts of a job', async () => {
    const running = await createRunningJob(fixture.store);
    const artifacts = [
      artifactEntry(running.id, 'model.h5', 20, 'a'.repeat(64), 'application/x-hdf5'),
      artifactEntry(running.id, 'metrics.json', 10, 'b'.repeat(64), 'application/json'),
    ];
    await fixture.store.setResult(running.id, SAMPLE_METRICS, artifacts);

    const response = await fixture.app.inject({ method: 'GET', url: `/v1/jobs/${running.id}/artifacts`, headers: { host: 'api.test:8080' } });
    assert.equal(response.statusCode, 200, response.body);
    const body = response.json<{ artifacts: Job['artifacts'] }>();
    assert.deepEqual(
      body.artifacts,
      artifacts.map((artifact) => ({ ...artifact, url: `http://api.test:8080/v1/jobs/${running.id}/artifacts/${artifact.name}` })),
    );

    const job = await fixture.app.inject({ method: 'GET', url: `/v1/jobs/${running.id}`, headers: { host: 'api.test:8080' } });
    assert.deepEqual(body.artifacts, job.json<Job>().artifacts, 'same list as the job resource');
  });

  it('follows the urls.artifacts link', async () => {
    const queued = await createQueuedJob(fixture.store);
    const job = (await fixture.app.inject({ method: 'GET', url: `/v1/jobs/${queued.id}` })).json<Job>();

    const response = await fixture.app.inject({ method: 'GET', url: new URL(job.urls.artifacts).pathname });
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(response.json(), { artifacts: [] });
  });

  it('returns 404 for artifacts of an unknown job', async () => {
    for (const id of [createJobId(), 'not-an-id']) {
      const response = await fixture.app.inject({ method: 'GET', url: `/v1/jobs/${id}/artifacts` });
      assert.equal(response.statusCode, 404);
      assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
      assert.equal(response.json<Problem>().code, 'JOB_NOT_FOUND');
    }
  });

  it('pages the job list', async () => {
    const pageFixture = await createApiFixture();
    try {
      const jobs: Job[] = [];
      for (let index = 0; index < 25; index++) jobs.push(await createQueuedJob(pageFixture.store, new Date(Date.UTC(2025, 0, 1, 0, 0, index))));
      const newestFirst = jobs.map((job) => job.id).reverse();

      const first = await pageFixture.app.inject({ method: 'GET', url: '/v1/jobs' });
      assert.equal(first.statusCode, 200);
      const firstPage = first.json<JobPage>();
      assert.equal(firstPage.jobs.length, 20, 'default page size');
      assert.deepEqual(firstPage.jobs.map((job) => job.id), newestFirst.slice(0, 20));
      assert.notEqual(firstPage.next_cursor, null);

      const second = await pageFixture.app.inject({ method: 'GET', url: '/v1/jobs', query: { cursor: firstPage.next_cursor ?? '' } });
      const secondPage = second.json<JobPage>();
      assert.deepEqual(secondPage.jobs.map((job) => job.id), newestFirst.slice(20));
      assert.equal(secondPage.next_cursor, null);

      const small = await pageFixture.app.inject({ method: 'GET', url: '/v1/jobs', query: { limit: '3' } });
      assert.equal(small.json<JobPage>().jobs.length, 3);

      const all = await pageFixture.app.inject({ method: 'GET', url: '/v1/jobs', query: { limit: '100' } });
      assert.equal(all.json<JobPage>().jobs.length, 25);
    } finally {
      await pageFixture.close();
    }
  });

  it('rejects an invalid page size', async () => {
    for (const limit of ['0', '101', '2.5', 'ten']) {
      const response = await fixture.app.inject({ method: 'GET', url: '/v1/jobs', query: { limit } });
      assert.equal(response.statusCode, 400, limit);
      assert.equal(response.json<Problem>().field, 'limit');
    }
  });

  it('rejects a malformed cursor', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: '/v1/jobs', query: { cursor: 'garbage' } });
    assert.equal(response.statusCode, 400);
    assert.equal(response.json<Problem>().field, 'cursor');
  });

  it('returns a problem for unknown routes', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: '/v2/anything?x=1' });
    assert.equal(response.statusCode, 404);
    const problem = response.json<Problem>();
    assert.equal(problem.code, 'ROUTE_NOT_FOUND');
    assert.equal(problem.detail, 'No route for GET /v2/anything.');
  });

  it('returns a problem for an overlong id', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: `/v1/jobs/${'a'.repeat(1000)}` });
    assert.equal(response.statusCode, 414);
    assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
    assert.match(String(response.headers['x-request-id']), /^req_/);
    const problem = response.json<Problem>();
    assert.equal(problem.code, 'URI_TOO_LONG');
    assert.ok(problem.detail.length < 200, `detail has ${problem.detail.length} characters`);
  });

  it('returns a problem for a malformed URL', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: '/v1/jobs/%zz' });
    assert.equal(response.statusCode, 400);
    assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
    assert.equal(response.json<Problem>().code, 'REQUEST_INVALID');
  });

  it('keeps a plain caller request id', async () => {
    const kept = await fixture.app.inject({ method: 'GET', url: '/livez', headers: { 'x-request-id': 'trace-123' } });
    assert.equal(kept.headers['x-request-id'], 'trace-123');

    const replaced = await fixture.app.inject({ method: 'GET', url: '/livez', headers: { 'x-request-id': 'bad id\twith spaces' } });
    assert.match(String(replaced.headers['x-request-id']), /^req_/);
  });
});

describe('health routes', () => {
  it('reports live and ready', async () => {
    const fixture = await createApiFixture();
    try {
      const live = await fixture.app.inject({ method: 'GET', url: '/livez' });
      assert.equal(live.statusCode, 200);

      const ready = await fixture.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 200);
      assert.equal(ready.json<{ status: string }>().status, 'ready');
    } finally {
      await fixture.close();
    }
  });

  it('reports not ready while shutting down', async () => {
    const fixture = await createApiFixture({ isShuttingDown: () => true });
    try {
      const ready = await fixture.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 503);
      assert.equal(ready.json<Problem>().code, 'SERVICE_UNAVAILABLE');
    } finally {
      await fixture.close();
    }
  });

  it('reports not ready when Redis is down', async () => {
    // Port 1 on the loopback interface has no listener, so every Redis command fails at once.
    const unreachable = createApiConnection('redis://127.0.0.1:1');
    unreachable.on('error', () => undefined);
    const fixture = await createApiFixture({
      pingRedis: () => unreachable.ping(),
      store: new JobStore({ connection: unreachable, prefix: 'unused' }),
    });
    try {
      const ready = await fixture.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 503);
      assert.equal(ready.json<Problem>().code, 'SERVICE_UNAVAILABLE');

      const job = await fixture.app.inject({ method: 'GET', url: `/v1/jobs/${createJobId()}` });
      assert.equal(job.statusCode, 503);
      assert.equal(job.json<Problem>().code, 'SERVICE_UNAVAILABLE');
    } finally {
      unreachable.disconnect();
      await fixture.close();
    }
  });
});

describe('request logging', () => {
  it('redacts the authorization header', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString('utf8'));
        callback();
      },
    });
    const fixture = await createApiFixture({ logger: { ...buildLoggerOptions('info'), stream } });
    try {
      await fixture.app.inject({ method: 'GET', url: '/livez', headers: { authorization: 'Bearer secret-token-value', 'x-request-id': 'log-test' } });
      const output = lines.join('');
      assert.ok(output.includes('[redacted]'), 'the header is logged as redacted');
      assert.ok(!output.includes('secret-token-value'), 'the token is not logged');
      assert.ok(lines.every((line) => JSON.parse(line).reqId === 'log-test'), 'every request line carries the request id');
    } finally {
      await fixture.close();
    }
  });
});
