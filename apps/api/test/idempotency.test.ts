import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Job, Problem } from '@centroid/contracts';
import { IdempotencyKeys } from '@centroid/jobs';
import { createApiFixture, type ApiFixture } from './api-fixture.js';
import { buildMultipart, fakeHdf5, kerasModel, type PartSpec } from './multipart-body.js';

const paramsPart = (params: unknown): PartSpec => ({ name: 'params', content: JSON.stringify(params), contentType: 'application/json' });
const modelPart = (content: Buffer = kerasModel()): PartSpec => ({ name: 'model', filename: 'model.h5', content });

describe('POST /v1/jobs with Idempotency-Key', () => {
  let fixture: ApiFixture;

  before(async () => {
    fixture = await createApiFixture();
  });

  after(() => fixture.close());

  const submit = async (key: string | undefined, parts: PartSpec[]) => {
    const body = buildMultipart(parts);
    const headers = { ...body.headers, ...(key === undefined ? {} : { 'idempotency-key': key }) };
    return fixture.app.inject({ method: 'POST', url: '/v1/jobs', payload: body.payload, headers });
  };

  const uploadFolders = async (): Promise<string[]> => readdir(path.join(fixture.dataDir, 'uploads')).catch(() => []);

  it('replays the first job for a retry', async () => {
    const parts = [paramsPart({ number_of_clusters: 8 }), modelPart()];
    const first = await submit('retry-key-1', parts);
    const second = await submit('retry-key-1', parts);

    assert.equal(first.statusCode, 202, first.body);
    assert.equal(second.statusCode, 202, second.body);
    assert.equal(second.json<Job>().id, first.json<Job>().id);
    assert.equal(second.headers.location, first.headers.location);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.equal(first.headers['idempotent-replayed'], undefined);
    assert.equal((await fixture.store.list({ limit: 100 })).jobs.length, 1, 'one job for two requests');
    assert.deepEqual(await uploadFolders(), [first.json<Job>().id], 'the retry leaves no uploads behind');
  });

  it('rejects the key with another request', async () => {
    const first = await submit('reused-key', [paramsPart({ number_of_clusters: 8 }), modelPart()]);
    const other = await submit('reused-key', [paramsPart({ number_of_clusters: 16 }), modelPart()]);

    assert.equal(first.statusCode, 202);
    assert.equal(other.statusCode, 422);
    const problem = other.json<Problem>();
    assert.equal(problem.code, 'IDEMPOTENCY_KEY_REUSED');
    assert.equal(problem.field, 'Idempotency-Key');
    assert.match(problem.detail, new RegExp(first.json<Job>().id));
  });

  it('rejects the key while in flight', async () => {
    // Claiming the key directly stands for a first request that is still uploading.
    await new IdempotencyKeys({ connection: fixture.redis, prefix: fixture.prefix }).claim('in-flight-key');
    const response = await submit('in-flight-key', [paramsPart({ number_of_clusters: 8 }), modelPart()]);

    assert.equal(response.statusCode, 409);
    assert.equal(response.json<Problem>().code, 'IDEMPOTENCY_KEY_IN_USE');
  });

  it('frees the key of a rejected request', async () => {
    const rejected = await submit('fix-and-retry', [paramsPart({ number_of_clusters: 8 }), modelPart(fakeHdf5())]);
    const fixed = await submit('fix-and-retry', [paramsPart({ number_of_clusters: 8 }), modelPart()]);

    assert.equal(rejected.statusCode, 422, rejected.body);
    assert.equal(fixed.statusCode, 202, fixed.body);
  });

  it('rejects a malformed key', async () => {
    for (const key of ['', 'has space', 'x'.repeat(256)]) {
      const response = await submit(key, [paramsPart({ number_of_clusters: 8 }), modelPart()]);
      assert.equal(response.statusCode, 400, `key '${key.slice(0, 20)}'`);
      assert.equal(response.json<Problem>().field, 'Idempotency-Key');
    }
  });
});
