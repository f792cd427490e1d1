import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Job, Problem } from '@centroid/contracts';
import { fixturePath } from '@centroid/examples';
import { createApiFixture, type ApiFixture } from './api-fixture.js';
import { buildMultipart } from './multipart-body.js';

/** A Keras 2 model with Conv2D, DepthwiseConv2D, BatchNormalization, SeparableConv2D, TimeDistributed, a nested Sequential and a 6-weight Dense. */
const LAYER_MIX = readFileSync(fixturePath('layer-mix.h5'));

describe('POST /v1/jobs with layers rules', () => {
  let fixture: ApiFixture;

  before(async () => {
    fixture = await createApiFixture();
  });

  after(() => fixture.close());

  async function submit(params: Record<string, unknown>) {
    const body = buildMultipart([
      { name: 'params', content: JSON.stringify({ number_of_clusters: 8, ...params }) },
      { name: 'model', filename: 'layer-mix.h5', content: LAYER_MIX },
    ]);
    return fixture.app.inject({ method: 'POST', url: '/v1/jobs', payload: body.payload, headers: body.headers });
  }

  async function assertRejected(params: Record<string, unknown>, code: string, field: string, layer: string): Promise<Problem> {
    const response = await submit(params);
    assert.equal(response.statusCode, 422, response.body);
    const problem = response.json<Problem>();
    assert.equal(problem.code, code);
    assert.equal(problem.field, field);
    assert.equal(problem.layer, layer);
    return problem;
  }

  it('accepts rules that fit the model', async () => {
    const layers = [
      { match: { pattern: '*' }, action: 'exclude' },
      { match: { name: 'conv' }, number_of_clusters: 4, cluster_biases: true },
      { match: { name: 'depthwise' }, cluster_depthwise: true },
      { match: { name: 'head' } },
      { match: { name: 'td_dense' }, cluster_centroids_init: 'linear' },
    ];
    const response = await submit({ layers });

    assert.equal(response.statusCode, 202, response.body);
    assert.deepEqual(response.json<Job>().params.layers?.map((rule) => rule.action), ['exclude', 'include', 'include', 'include', 'include']);
  });

  it('rejects a layer name the model lacks', async () => {
    const problem = await assertRejected({ layers: [{ match: { name: 'conv_1' } }] }, 'PARAMS_INVALID', 'layers.0.match.name', 'conv_1');
    assert.match(problem.detail, /names layer "conv_1", but the model has no layer of that name \(layers with weights: conv, depthwise, bn/);
  });

  it('rejects BatchNormalization by name', async () => {
    const problem = await assertRejected({ layers: [{ match: { name: 'bn' } }] }, 'LAYER_NOT_CLUSTERABLE', 'layers.0.match.name', 'bn');
    assert.match(problem.detail, /includes layer "bn" \(BatchNormalization\), but none of its weights can be clustered/);
    assert.match(problem.detail, /statistics and scales of BatchNormalization are never clustered/);
  });

  it('rejects a Flatten by name', async () => {
    const problem = await assertRejected({ layers: [{ match: { name: 'flatten' } }] }, 'LAYER_NOT_CLUSTERABLE', 'layers.0.match.name', 'flatten');
    assert.match(problem.detail, /includes layer "flatten" \(Flatten\), but it has no weights/);
  });

  it('rejects a kernel no larger than its clusters', async () => {
    const problem = await assertRejected({ layers: [{ match: { name: 'tiny' } }] }, 'LAYER_NOT_CLUSTERABLE', 'layers.0.match.name', 'tiny');
    assert.match(problem.detail, /kernel of Dense: 6 weights, no more than the 8 clusters/);
  });

  it('rejects a depthwise layer without the opt-in', async () => {
    const problem = await assertRejected({ layers: [{ match: { name: 'depthwise' } }] }, 'LAYER_NOT_CLUSTERABLE', 'layers.0.match.name', 'depthwise');
    assert.match(problem.detail, /\(DepthwiseConv2D\).*set cluster_depthwise/);
  });

  it('checks layers of a nested model', async () => {
    const accepted = await submit({ layers: [{ match: { name: 'head_out' }, number_of_clusters: 4 }] });
    assert.equal(accepted.statusCode, 202, accepted.body);

    const problem = await assertRejected(
      { layers: [{ match: { name: 'head_out' }, number_of_clusters: 24 }] },
      'LAYER_NOT_CLUSTERABLE',
      'layers.0.match.name',
      'head_out',
    );
    assert.match(problem.detail, /kernel of Dense: 24 weights, no more than the 24 clusters/);
  });

  it('skips unclusterable layers matched by pattern', async () => {
    const response = await submit({ layers: [{ match: { pattern: '*' }, number_of_clusters: 8 }] });
    assert.equal(response.statusCode, 202, response.body);
  });

  it('rejects an invalid rule', async () => {
    const response = await submit({ layers: [{ match: { class: 'BatchNormalization' } }] });
    assert.equal(response.statusCode, 422, response.body);
    assert.equal(response.json<Problem>().field, 'layers.0.match.class');
  });
});
