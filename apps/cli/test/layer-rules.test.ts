import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MetricsSchema } from '@centroid/contracts';
import { fixturePath } from '@centroid/examples';
import { centroid } from './run-cli.js';

describe('centroid run with layers rules', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'centroid-cli-layers-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes rules and opt-ins through', async () => {
    const paramsFile = path.join(dir, 'params.json');
    const resultFile = path.join(dir, 'result.json');
    await writeFile(
      paramsFile,
      JSON.stringify({
        number_of_clusters: 8,
        layers: [
          { match: { class: 'Dense' }, action: 'exclude' },
          { match: { name: 'conv' }, number_of_clusters: 3 },
        ],
      }),
    );
    const run = await centroid([
      'run',
      fixturePath('layer-mix.h5'),
      '--params',
      paramsFile,
      '--cluster-depthwise',
      '--cluster-centroids-init',
      'linear',
      '--out',
      path.join(dir, 'out.h5'),
      '--result',
      resultFile,
    ]);
    assert.equal(run.code, 0, run.stderr);

    const metrics = MetricsSchema.parse(JSON.parse(await readFile(resultFile, 'utf8')));
    const clusters = Object.fromEntries(metrics.layers.map((layer) => [layer.weight, layer.number_of_clusters]));
    assert.equal(clusters['conv/kernel'], 3);
    assert.equal(clusters['depthwise/depthwise_kernel'], 8);
    assert.equal(clusters['head_dense/kernel'], null);
    assert.equal(clusters['td_dense/kernel'], null);
  });

  it('reports a named layer with nothing to cluster', async () => {
    const paramsFile = path.join(dir, 'bn.json');
    await writeFile(paramsFile, JSON.stringify({ number_of_clusters: 8, layers: [{ match: { name: 'bn' } }] }));
    const run = await centroid(['run', fixturePath('layer-mix.h5'), '--params', paramsFile, '--out', path.join(dir, 'bn.h5')]);

    assert.equal(run.code, 1);
    assert.match(run.stderr, /LAYER_NOT_CLUSTERABLE/);
    assert.match(run.stderr, /includes layer "bn" \(BatchNormalization\)/);
    assert.doesNotMatch(run.stderr, /^\s+at /m);
  });
});
