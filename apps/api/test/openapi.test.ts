import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { Job } from '@centroid/contracts';
import { createApiFixture, type ApiFixture } from './api-fixture.js';
import { SAMPLE_METRICS, artifactEntry, createRunningJob } from './job-fixtures.js';

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, object> };
}

describe('OpenAPI document', () => {
  let fixture: ApiFixture;
  let document: OpenApiDocument;
  let ajv: Ajv2020;

  before(async () => {
    fixture = await createApiFixture();
    const response = await fixture.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(response.statusCode, 200);
    document = response.json<OpenApiDocument>();
    ajv = new Ajv2020({ strict: false, allErrors: true });
    for (const [name, schema] of Object.entries(document.components.schemas)) ajv.addSchema(schema, `#/components/schemas/${name}`);
  });

  after(() => fixture.close());

  const validate = (component: string, value: unknown): boolean => {
    const check = ajv.getSchema(`#/components/schemas/${component}`);
    assert.ok(check !== undefined, `component ${component} is missing`);
    return check(value) as boolean;
  };

  it('describes every route', () => {
    assert.equal(document.openapi, '3.1.0');
    const expected: Array<[string, string]> = [
      ['/v1/jobs', 'post'],
      ['/v1/jobs', 'get'],
      ['/v1/jobs/{id}', 'get'],
      ['/v1/jobs/{id}/cancel', 'post'],
      ['/v1/jobs/{id}/artifacts', 'get'],
      ['/v1/jobs/{id}/artifacts/{name}', 'get'],
      ['/livez', 'get'],
      ['/readyz', 'get'],
    ];
    for (const [path, method] of expected) {
      assert.ok(document.paths[path]?.[method] !== undefined, `${method.toUpperCase()} ${path} is not described`);
      const fastifyPath = path.replaceAll(/\{(\w+)\}/g, ':$1');
      assert.ok(fixture.app.hasRoute({ method: method.toUpperCase() as 'GET', url: fastifyPath }), `${method.toUpperCase()} ${path} is not served`);
    }
  });

  it('checks parameters like the server', () => {
    assert.equal(validate('JobParams', { number_of_clusters: 8 }), true);
    assert.equal(validate('JobParams', { number_of_clusters: 16, cluster_centroids_init: 'linear', fine_tune: { epochs: 2, batch_size: 64 } }), true);
    assert.equal(validate('JobParams', { number_of_clusters: 1 }), false);
    assert.equal(validate('JobParams', { number_of_clusters: 8, unknown_option: true }), false);
    assert.equal(validate('JobParams', { number_of_clusters: 8, fine_tune: { epochs: -1 } }), false);
  });

  it('matches a served job resource', async () => {
    const running = await createRunningJob(fixture.store);
    await fixture.store.setResult(running.id, SAMPLE_METRICS, [artifactEntry(running.id, 'model.h5', 10, 'a'.repeat(64), 'application/x-hdf5')]);
    const response = await fixture.app.inject({ method: 'GET', url: `/v1/jobs/${running.id}` });
    const job = response.json<Job>();

    assert.equal(validate('Job', job), true, JSON.stringify(ajv.errors));
    assert.equal(validate('Job', { ...job, status: 'exploded' }), false);
  });

  it('matches a served problem', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: '/v1/jobs/00000000000000000000000000' });
    assert.equal(response.statusCode, 404);
    assert.equal(validate('Problem', response.json()), true, JSON.stringify(ajv.errors));
  });

  it('serves the interactive page offline', async () => {
    const page = await fixture.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);

    const script = await fixture.app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' });
    assert.equal(script.statusCode, 200);
    assert.ok(script.body.length > 100_000, `the page script has ${script.body.length} bytes`);
  });
});
