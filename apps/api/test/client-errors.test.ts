import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Problem } from '@centroid/contracts';
import { createApiFixture, type ApiFixture } from './api-fixture.js';
import { buildMultipart, type PartSpec } from './multipart-body.js';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

describe('HTTP parser errors', () => {
  let fixture: ApiFixture;
  let port: number;

  before(async () => {
    fixture = await createApiFixture();
    await fixture.app.listen({ port: 0, host: '127.0.0.1' });
    port = (fixture.app.server.address() as AddressInfo).port;
  });

  after(() => fixture.close());

  /** Sends raw bytes, optionally half-closes, and parses the response. */
  const sendRaw = (request: string, endAfterWrite = false): Promise<RawResponse> =>
    new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const [head = '', body = ''] = text.split('\r\n\r\n');
        const [statusLine = '', ...headerLines] = head.split('\r\n');
        const status = Number(statusLine.split(' ')[1]);
        if (!Number.isInteger(status)) return reject(new Error(`no HTTP response: ${JSON.stringify(text.slice(0, 200))}`));
        const headers = Object.fromEntries(headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
        resolve({ status, headers, body });
      });
      socket.write(request, () => {
        if (endAfterWrite) socket.end();
      });
    });

  const assertProblem = (response: RawResponse, status: number, code: string) => {
    assert.equal(response.status, status);
    assert.equal(response.headers['content-type'], 'application/problem+json');
    assert.match(response.headers['x-request-id'] ?? '', /^req_/);
    const problem = JSON.parse(response.body) as Problem;
    assert.equal(problem.code, code);
    assert.equal(problem.status, status);
  };

  it('answers oversized headers with 431', async () => {
    const response = await sendRaw(`GET /v1/jobs?${'a'.repeat(100_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    assertProblem(response, 431, 'REQUEST_HEADERS_TOO_LARGE');
  });

  it('answers a malformed request line with 400', async () => {
    const response = await sendRaw('NOT HTTP AT ALL\r\n\r\n');
    assertProblem(response, 400, 'REQUEST_INVALID');
  });

  it('explains an urlencoded body', async () => {
    const response = await fixture.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      payload: 'params=%7B%7D',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(response.statusCode, 415);
    const problem = response.json<Problem>();
    assert.equal(problem.code, 'UPLOAD_NOT_MULTIPART');
    assert.equal(
      problem.detail,
      "Expected a multipart/form-data body with the parts params and model, and dataset to fine-tune, got 'application/x-www-form-urlencoded'. GET /openapi.json describes the parts.",
    );
  });

  it('rejects a body type on cancel', async () => {
    const response = await fixture.app.inject({ method: 'POST', url: '/v1/jobs/abc/cancel', payload: '<x/>', headers: { 'content-type': 'application/xml' } });
    assert.equal(response.statusCode, 415);
    const problem = response.json<Problem>();
    assert.equal(problem.code, 'MEDIA_TYPE_UNSUPPORTED');
    assert.equal(problem.detail, "POST /v1/jobs/abc/cancel takes no body of type 'application/xml'. Send it with no body, or with a JSON body.");
  });

  it('shortens a long content type', async () => {
    const contentType = `text/plain; note=${'a'.repeat(5000)}`;
    const response = await fixture.app.inject({ method: 'POST', url: '/v1/jobs', payload: 'x', headers: { 'content-type': contentType } });
    assert.equal(response.statusCode, 415);
    const problem = response.json<Problem>();
    assert.ok(problem.detail.includes(`got '${contentType.slice(0, 100)}…'`), problem.detail);
    assert.ok(problem.detail.length < 300, `${problem.detail.length} characters`);
  });

  it('names the part limit', async () => {
    const parts: PartSpec[] = [
      { name: 'params', content: JSON.stringify({ number_of_clusters: 8 }), contentType: 'application/json' },
      { name: 'model', filename: 'model.json', content: '{}' },
    ];
    for (let index = 0; index < 260; index++) parts.push({ name: 'model_weights', filename: `shard${index}.bin`, content: Buffer.alloc(4) });
    const body = buildMultipart(parts);
    const response = await fixture.app.inject({ method: 'POST', url: '/v1/jobs', payload: body.payload, headers: body.headers });

    assert.equal(response.statusCode, 400, response.body);
    assert.match(response.json<Problem>().detail, /at most 256 are accepted/);
  });
});
