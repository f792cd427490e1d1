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

  it('warns about rules that match no layer', async () => {
    const paramsFile = path.join(dir, 'unmatched.json');
    const resultFile = path.join(dir, 'unmatched-result.json');
    await writeFile(
      paramsFile,
      JSON.stringify({
        number_of_clusters: 8,
        layers: [
          { match: { class: 'Conv9D' }, action: 'exclude' },
          { match: { class: 'Dense' }, number_of_clusters: 4 },
          { match: { pattern: 'block9_*' }, action: 'exclude' },
          { match: { pattern: 'head' }, number_of_clusters: 5 },
        ],
      }),
    );
    const run = await centroid(['run', fixturePath('layer-mix.h5'), '--params', paramsFile, '--out', path.join(dir, 'unmatched.h5'), '--result', resultFile]);
    assert.equal(run.code, 0, run.stderr);

    const metrics = MetricsSchema.parse(JSON.parse(await readFile(resultFile, 'utf8')));
    const unmatched = metrics.warnings.filter((warning) => warning.code === 'LAYER_RULE_UNMATCHED');
    assert.equal(unmatched.length, 2, JSON.stringify(metrics.warnings));
    assert.match(unmatched[0]!.message, /^layers\[0\] \(class "Conv9D"\) matched no layer of the model/);
    assert.match(unmatched[0]!.message, /layer classes: .*Conv2D/);
    assert.match(unmatched[1]!.message, /^layers\[2\] \(pattern "block9_\*"\) matched no layer of the model/);
    assert.match(run.stdout, /^warning LAYER_RULE_UNMATCHED: layers\[0\] \(class "Conv9D"\) matched no layer/m);
    assert.match(run.stdout, /^warning LAYER_RULE_UNMATCHED: layers\[2\] \(pattern "block9_\*"\) matched no layer/m);

    // The matched rules still apply: Dense through the TimeDistributed wrapper, and the nested model by name.
    const clusters = Object.fromEntries(metrics.layers.map((layer) => [layer.weight, layer.number_of_clusters]));
    assert.equal(clusters['td_dense/kernel'], 4);
    assert.equal(clusters['head_dense/kernel'], 5);
    assert.equal(clusters['conv/kernel'], 8);
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
