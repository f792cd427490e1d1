import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import { connect, type AddressInfo } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Job, Problem } from '@centroid/contracts';
import { JobStore, createApiConnection } from '@centroid/jobs';
import { buildLoggerOptions } from '../src/index.js';
import { MAX_DATASET_BYTES, MAX_MODEL_BYTES, createApiFixture, type ApiFixture } from './api-fixture.js';
import { buildMultipart, datasetFixture, fakeHdf5, kerasModel, smallNpz, type PartSpec } from './multipart-body.js';

function paramsPart(params: unknown): PartSpec {
  return { name: 'params', content: JSON.stringify(params) };
}

/** Returns the `--boundary` line that the body built by buildMultipart uses. */
function boundaryOf(headers: Record<string, string>): string {
  return `--${String(headers['content-type']).split('boundary=')[1]}`;
}

/** Polls `condition` every 20 ms and raises after 5 seconds. */
async function waitFor(condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 seconds');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function modelPart(content: Buffer = kerasModel(), filename = 'model.h5'): PartSpec {
  return { name: 'model', filename, content };
}

describe('POST /v1/jobs', () => {
  let fixture: ApiFixture;
  const acceptedJobIds = new Set<string>();

  before(async () => {
    fixture = await createApiFixture();
  });

  after(() => fixture.close());

  async function submit(parts: PartSpec[], headers: Record<string, string> = {}) {
    const body = buildMultipart(parts);
    const response = await fixture.app.inject({ method: 'POST', url: '/v1/jobs', payload: body.payload, headers: { ...body.headers, ...headers } });
    if (response.statusCode === 202) acceptedJobIds.add(response.json<Job>().id);
    return response;
  }

  /** Upload folders of jobs that were not accepted. */
  async function strayUploadFolders(): Promise<string[]> {
    const folders = await readdir(path.join(fixture.dataDir, 'uploads')).catch(() => []);
    return folders.filter((folder) => !acceptedJobIds.has(folder));
  }

  async function assertProblem(
    response: Awaited<ReturnType<typeof submit>>,
    status: number,
    code: string,
    field?: string,
  ): Promise<Problem> {
    assert.equal(response.statusCode, status, response.body);
    assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
    const problem = response.json<Problem>();
    assert.equal(problem.code, code);
    assert.equal(problem.status, status);
    assert.equal(problem.request_id, response.headers['x-request-id']);
    if (field !== undefined) assert.equal(problem.field, field);
    assert.deepEqual(await strayUploadFolders(), [], 'rejected uploads are removed');
    return problem;
  }

  it('accepts a valid submission', async () => {
    const model = kerasModel();
    const dataset = datasetFixture();
    const response = await submit([
      paramsPart({ number_of_clusters: 16, cluster_centroids_init: 'LINEAR' }),
      modelPart(model),
      { name: 'dataset', filename: 'mnist.npz', content: dataset },
    ]);

    assert.equal(response.statusCode, 202, response.body);
    const job = response.json<Job>();
    assert.equal(response.headers.location, `/v1/jobs/${job.id}`);
    assert.equal(job.status, 'queued');
    assert.equal(job.done, false);
    assert.equal(job.params.number_of_clusters, 16);
    assert.equal(job.params.cluster_centroids_init, 'linear');
    assert.equal(job.params.fine_tune.epochs, 1, 'defaults are filled in');
    assert.deepEqual(job.inputs.model, { filename: 'model.h5', bytes: model.length, sha256: createHash('sha256').update(model).digest('hex') });
    assert.equal(job.inputs.dataset?.filename, 'mnist.npz');
    assert.equal(job.inputs.dataset?.bytes, dataset.length);
    assert.equal(job.urls.self, `http://localhost:80/v1/jobs/${job.id}`);

    const stored = await fixture.store.get(job.id);
    assert.equal(stored?.status, 'queued');

    const queued = await fixture.queue.getData(job.id);
    assert.equal(queued?.jobId, job.id);
    assert.equal(queued?.model.path, path.join(fixture.dataDir, 'uploads', job.id, 'model.h5'));
    assert.equal(queued?.dataset?.path, path.join(fixture.dataDir, 'uploads', job.id, 'dataset.npz'));
    assert.deepEqual(await readdir(path.join(fixture.dataDir, 'uploads', job.id)), ['dataset.npz', 'model.h5']);
  });

  it('accepts a job without a dataset', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 3 } }), modelPart()]);
    assert.equal(response.statusCode, 202, response.body);
    assert.equal(response.json<Job>().inputs.dataset, null);
  });

  it('accepts params sent as a file', async () => {
    const response = await submit([
      { name: 'params', filename: 'params.json', contentType: 'application/json', content: JSON.stringify({ number_of_clusters: 4 }) },
      modelPart(),
    ]);
    assert.equal(response.statusCode, 202, response.body);
  });

  it('accepts params with a JSON content type', async () => {
    const response = await submit([
      { name: 'params', contentType: 'application/json', content: JSON.stringify({ number_of_clusters: 4 }) },
      modelPart(),
    ]);
    assert.equal(response.statusCode, 202, response.body);
  });

  it('rejects params after the model', async () => {
    const response = await submit([modelPart(), paramsPart({ number_of_clusters: 8 })]);
    const problem = await assertProblem(response, 400, 'REQUEST_INVALID', 'params');
    assert.match(problem.detail, /must be 'params'/);
  });

  it('rejects a missing model', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8 })]);
    await assertProblem(response, 400, 'UPLOAD_MISSING', 'model');
  });

  it('rejects a missing params part', async () => {
    const response = await submit([]);
    await assertProblem(response, 400, 'REQUEST_INVALID', 'params');
  });

  it('names params missing before a model', async () => {
    const response = await submit([modelPart()]);
    const problem = await assertProblem(response, 400, 'REQUEST_INVALID', 'params');
    assert.match(problem.detail, /^Missing multipart part 'params' with the job parameters as JSON\./);
  });

  it('rejects params after the model', async () => {
    const response = await submit([modelPart(), paramsPart({ number_of_clusters: 8 })]);
    const problem = await assertProblem(response, 400, 'REQUEST_INVALID', 'params');
    assert.match(problem.detail, /^The first multipart part must be 'params' .* but 'model' came first/);
  });

  it('rejects a model that is no model format', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8 }), modelPart(Buffer.from('a text file, not a model\n'), 'model.txt')]);
    const problem = await assertProblem(response, 415, 'MODEL_FORMAT_UNSUPPORTED', 'model');
    assert.equal(problem.file, 'model.txt');
  });

  it('rejects a damaged zip as an invalid model', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8 }), modelPart(Buffer.from('PK\u0003\u0004 a zip'), 'model.keras')]);
    const problem = await assertProblem(response, 422, 'MODEL_INVALID', 'model');
    assert.equal(problem.file, 'model.keras');
  });

  it('rejects a truncated model', async () => {
    const truncated = kerasModel().subarray(0, 4000);
    const response = await submit([paramsPart({ number_of_clusters: 8 }), modelPart(truncated, 'truncated.h5')]);
    const problem = await assertProblem(response, 422, 'MODEL_INVALID', 'model');
    assert.equal(problem.file, 'truncated.h5');
  });

  it('rejects an HDF5 file that holds no Keras model', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8 }), modelPart(fakeHdf5(4096), 'noise.h5')]);
    await assertProblem(response, 422, 'MODEL_INVALID', 'model');
  });

  it('rejects a dataset missing a named array', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8, dataset: { x_test: 'images' } }),
      modelPart(),
      { name: 'dataset', filename: 'data.npz', content: datasetFixture() },
    ]);
    const problem = await assertProblem(response, 422, 'DATASET_ARRAY_MISSING', 'dataset.x_test');
    assert.equal(problem.file, 'data.npz');
    assert.match(problem.detail, /'images'/);
    assert.match(problem.detail, /'x_test'/, 'lists the arrays the file contains');
  });

  it('requires training arrays only when fine-tuning', async () => {
    const testOnly = smallNpz({ x_test: 4, y_test: 4 });
    const rejected = await submit([
      paramsPart({ number_of_clusters: 8 }),
      modelPart(),
      { name: 'dataset', filename: 'test-only.npz', content: testOnly },
    ]);
    await assertProblem(rejected, 422, 'DATASET_ARRAY_MISSING', 'dataset.x_train');

    const accepted = await submit([
      paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 0 } }),
      modelPart(),
      { name: 'dataset', filename: 'test-only.npz', content: testOnly },
    ]);
    assert.equal(accepted.statusCode, 202, accepted.body);
  });

  it('rejects labels that do not match the samples', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 0 } }),
      modelPart(),
      { name: 'dataset', filename: 'uneven.npz', content: smallNpz({ x_test: 4, y_test: 3 }) },
    ]);
    const problem = await assertProblem(response, 422, 'DATASET_SHAPE_MISMATCH', 'dataset.y_test');
    assert.match(problem.detail, /4 samples/);
    assert.match(problem.detail, /3 labels/);
  });

  it('rejects a dataset that is not an NPZ', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8 }),
      modelPart(),
      { name: 'dataset', filename: 'data.npz', content: Buffer.from('x,y\n1,2\n') },
    ]);
    const problem = await assertProblem(response, 422, 'DATASET_INVALID', 'dataset');
    assert.equal(problem.file, 'data.npz');
  });

  it('rejects an empty model', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8 }), modelPart(Buffer.alloc(0))]);
    await assertProblem(response, 422, 'MODEL_INVALID', 'model');
  });

  for (const clusters of [1, 10 ** 7]) {
    it(`rejects number_of_clusters ${clusters}`, async () => {
      const response = await submit([paramsPart({ number_of_clusters: clusters }), modelPart()]);
      const problem = await assertProblem(response, 422, 'PARAMS_INVALID', 'number_of_clusters');
      assert.equal(problem.errors?.[0]?.field, 'number_of_clusters');
    });
  }

  it('rejects an unknown initialisation', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8, cluster_centroids_init: 'magic' }), modelPart()]);
    await assertProblem(response, 422, 'PARAMS_INVALID', 'cluster_centroids_init');
  });

  it('rejects an unknown field', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8, colour: 'blue' }), modelPart()]);
    const problem = await assertProblem(response, 422, 'PARAMS_INVALID', 'colour');
    assert.match(problem.errors?.[0]?.message ?? '', /unknown field 'colour'/);
  });

  it('lists every field at fault', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 0, fine_tune: { batch_size: 0 } }), modelPart()]);
    const problem = await assertProblem(response, 422, 'PARAMS_INVALID');
    assert.deepEqual(problem.errors?.map((issue) => issue.field).sort(), ['fine_tune.batch_size', 'number_of_clusters']);
  });

  it('rejects params that are not JSON', async () => {
    const response = await submit([{ name: 'params', content: '{number_of_clusters: 8' }, modelPart()]);
    await assertProblem(response, 400, 'REQUEST_INVALID', 'params');
  });

  it('rejects an oversized model', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8 }), modelPart(fakeHdf5(MAX_MODEL_BYTES + 1))]);
    const problem = await assertProblem(response, 413, 'UPLOAD_TOO_LARGE', 'model');
    assert.match(problem.detail, new RegExp(`${MAX_MODEL_BYTES} bytes`));
  });

  it('rejects an oversized dataset', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8 }),
      modelPart(),
      { name: 'dataset', filename: 'big.npz', content: Buffer.alloc(MAX_DATASET_BYTES + 1) },
    ]);
    await assertProblem(response, 413, 'UPLOAD_TOO_LARGE', 'dataset');
  });

  it('rejects an unknown part', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8 }), modelPart(), { name: 'labels', filename: 'l.bin', content: 'x' }]);
    await assertProblem(response, 400, 'REQUEST_INVALID', 'labels');
  });

  it('rejects a second model', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8 }), modelPart(), modelPart()]);
    await assertProblem(response, 400, 'REQUEST_INVALID', 'model');
  });

  it('rejects a model sent as text', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8 }), { name: 'model', content: 'not a file' }]);
    await assertProblem(response, 400, 'REQUEST_INVALID', 'model');
  });

  it('rejects a body without its closing boundary', async () => {
    const body = buildMultipart([paramsPart({ number_of_clusters: 8 }), modelPart()]);
    const closingLine = Buffer.byteLength(`${boundaryOf(body.headers)}--\r\n`);
    const cuts = {
      'no closing boundary line': body.payload.length - closingLine,
      'cut inside the model': body.payload.length - 2000,
      'cut inside the first part header': 60,
    };

    for (const [name, length] of Object.entries(cuts)) {
      const response = await fixture.app.inject({
        method: 'POST',
        url: '/v1/jobs',
        payload: body.payload.subarray(0, length),
        headers: body.headers,
      });
      const problem = await assertProblem(response, 400, 'REQUEST_INVALID');
      assert.match(problem.detail, /ends before its closing boundary line/, name);
    }
  });

  it('rejects a body with no boundary line', async () => {
    const body = buildMultipart([]);
    const response = await fixture.app.inject({ method: 'POST', url: '/v1/jobs', payload: 'not a multipart body', headers: body.headers });
    const problem = await assertProblem(response, 400, 'REQUEST_INVALID');
    assert.match(problem.detail, /closing boundary line/);
  });

  it('rejects a content type without a boundary', async () => {
    const response = await fixture.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      payload: 'not a multipart body',
      headers: { 'content-type': 'multipart/form-data' },
    });
    const problem = await assertProblem(response, 400, 'REQUEST_INVALID');
    assert.match(problem.detail, /no boundary parameter/);
  });

  it('accepts an epilogue after the closing boundary', async () => {
    const body = buildMultipart([paramsPart({ number_of_clusters: 8 }), modelPart()]);
    const payload = Buffer.concat([body.payload, Buffer.from('epilogue that parsers ignore\r\n')]);
    const response = await fixture.app.inject({ method: 'POST', url: '/v1/jobs', payload, headers: body.headers });
    assert.equal(response.statusCode, 202, response.body);
    acceptedJobIds.add(response.json<Job>().id);
  });

  it('logs a client abort as one warning', async () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        callback();
      },
    });
    const listening = await createApiFixture({ logger: { ...buildLoggerOptions(), stream } });
    try {
      await listening.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = listening.app.server.address() as AddressInfo;
      const body = buildMultipart([paramsPart({ number_of_clusters: 8 }), modelPart()]);

      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      const head = `POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${body.headers['content-type']}\r\nContent-Length: ${body.payload.length}\r\n\r\n`;
      socket.write(head);
      socket.write(body.payload.subarray(0, body.payload.length / 2));
      await waitFor(async () => (await readdir(path.join(listening.dataDir, 'uploads')).catch(() => [])).length > 0);
      socket.destroy();

      await waitFor(() => lines.some((line) => line.msg === 'client closed the connection during the upload'));
      const requestId = lines.find((line) => line.msg === 'incoming request')?.reqId;
      const abortLines = lines.filter((line) => line.msg === 'client closed the connection during the upload');
      assert.equal(abortLines.length, 1);
      assert.equal(abortLines[0]?.level, 40);
      assert.equal(abortLines[0]?.reqId, requestId);
      assert.deepEqual(lines.filter((line) => Number(line.level) >= 50), [], 'no error lines');
      assert.ok(!JSON.stringify(lines).includes('"stack"'), 'no stack traces');
      await waitFor(async () => (await readdir(path.join(listening.dataDir, 'uploads'))).length === 0);
    } finally {
      await listening.close();
    }
  });

  it('rejects webhook URLs with credentials', async () => {
    for (const url of ['https://user:s3cr3t@hooks.example.com/done', 'https://:s3cr3t@hooks.example.com/done', 'https://s3cr3t@hooks.example.com/done']) {
      const response = await submit([paramsPart({ number_of_clusters: 8, webhook: { url } }), modelPart()]);
      const problem = await assertProblem(response, 422, 'PARAMS_INVALID', 'webhook.url');
      assert.match(problem.errors?.[0]?.message ?? '', /must not contain a user name or password/, url);
      assert.ok(!response.body.includes('s3cr3t'), `the problem does not echo the secret of ${url}`);
    }
  });

  it('rejects webhooks on internal IP addresses', async () => {
    const cases = {
      'http://127.0.0.1:9000/hook': 'loopback',
      'http://0x7f.1/hook': 'loopback',
      'http://[::1]/hook': 'loopback',
      'http://[::ffff:127.0.0.1]/hook': 'loopback',
      'http://localhost:9000/hook': 'loopback',
      'https://10.1.2.3/hook': 'private',
      'https://192.168.0.10/hook': 'private',
      'http://169.254.10.1/hook': 'link-local',
      'http://169.254.169.254/latest/meta-data': 'metadata',
      'http://0.0.0.0/hook': 'unspecified',
    };
    for (const [url, addressClass] of Object.entries(cases)) {
      const response = await submit([paramsPart({ number_of_clusters: 8, webhook: { url } }), modelPart()]);
      const problem = await assertProblem(response, 422, 'PARAMS_INVALID', 'webhook.url');
      assert.match(problem.errors?.[0]?.message ?? '', new RegExp(`is a ${addressClass} address`), url);
    }
  });

  it('accepts public and named webhook hosts', async () => {
    // Names are not resolved at submit, so a name that points inside the network is left to the worker.
    for (const url of ['https://hooks.example.com/done?token=abc', 'http://93.184.215.14/hook', 'http://10.0.0.1.nip.io/hook']) {
      const response = await submit([paramsPart({ number_of_clusters: 8, webhook: { url } }), modelPart()]);
      assert.equal(response.statusCode, 202, `${url}: ${response.body}`);
      assert.equal(response.json<Job>().params.webhook?.url, url);
    }
  });

  it('accepts private webhooks when allowed', async () => {
    const permissive = await createApiFixture({ allowPrivateWebhooks: true });
    try {
      const send = (url: string) => {
        const body = buildMultipart([paramsPart({ number_of_clusters: 8, webhook: { url } }), modelPart()]);
        return permissive.app.inject({ method: 'POST', url: '/v1/jobs', payload: body.payload, headers: body.headers });
      };

      for (const url of ['http://127.0.0.1:9000/hook', 'http://localhost:9000/hook', 'https://10.1.2.3/hook']) {
        const accepted = await send(url);
        assert.equal(accepted.statusCode, 202, `${url}: ${accepted.body}`);
      }

      const metadata = await send('http://169.254.169.254/latest/meta-data');
      assert.equal(metadata.statusCode, 422, metadata.body);
      assert.equal(metadata.json<Problem>().field, 'webhook.url');
      assert.doesNotMatch(metadata.json<Problem>().detail, /CENTROID_WEBHOOK_ALLOW_PRIVATE/, 'no remedy is offered for metadata addresses');
    } finally {
      await permissive.close();
    }
  });

  it('rejects a body that is not multipart', async () => {
    const response = await fixture.app.inject({ method: 'POST', url: '/v1/jobs', payload: { number_of_clusters: 8 } });
    await assertProblem(response, 415, 'UPLOAD_NOT_MULTIPART');
    assert.equal(
      response.json<Problem>().detail,
      "Expected a multipart/form-data body with the parts params and model, and dataset to fine-tune, got 'application/json'. GET /openapi.json describes the parts.",
    );
  });

  it('builds URLs on the public URL', async () => {
    const publicFixture = await createApiFixture({ publicUrl: 'https://centroid.example.com/' });
    try {
      const body = buildMultipart([paramsPart({ number_of_clusters: 8 }), modelPart()]);
      const response = await publicFixture.app.inject({ method: 'POST', url: '/v1/jobs', payload: body.payload, headers: body.headers });
      const job = response.json<Job>();
      assert.equal(job.urls.self, `https://centroid.example.com/v1/jobs/${job.id}`);
      assert.equal(job.urls.artifacts, `https://centroid.example.com/v1/jobs/${job.id}/artifacts`);
    } finally {
      await publicFixture.close();
    }
  });

  it('returns 503 when Redis is down', async () => {
    // Port 1 on the loopback interface has no listener, so every Redis command fails at once.
    const unreachable = createApiConnection('redis://127.0.0.1:1');
    unreachable.on('error', () => undefined);
    const offline = await createApiFixture({ store: new JobStore({ connection: unreachable, prefix: 'unused' }) });
    try {
      const body = buildMultipart([paramsPart({ number_of_clusters: 8 }), modelPart()]);
      const response = await offline.app.inject({ method: 'POST', url: '/v1/jobs', payload: body.payload, headers: body.headers });
      assert.equal(response.statusCode, 503, response.body);
      assert.equal(response.json<Problem>().code, 'SERVICE_UNAVAILABLE');
      assert.deepEqual(await readdir(path.join(offline.dataDir, 'uploads')), []);
    } finally {
      unreachable.disconnect();
      await offline.close();
    }
  });
});
