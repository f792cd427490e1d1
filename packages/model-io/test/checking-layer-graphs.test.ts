import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { isCentroidError } from '@centroid/contracts';

import { loadH5wasm, openH5File, readMemfsFile, removeMemfsFile, writeIntoMemfs } from '../src/hdf5/h5wasm.js';
import { inspectModelFile, readKerasH5 } from '../src/index.js';
import { runInChild } from '../src/isolation/run-in-child.js';
import { fixture, temporaryFolder } from './helpers.js';

import type { TestContext } from 'node:test';
import type { KerasModelConfig } from '../src/index.js';

interface LayerEntry {
  class_name: string;
  name: string;
  config: { name: string };
  inbound_nodes: unknown[][];
}

/** Returns the config of functional-cnn.h5 after `edit` has changed its layer list. */
async function editedConfig(edit: (layers: LayerEntry[]) => void): Promise<KerasModelConfig> {
  const { modelConfig } = await readKerasH5(fixture('functional-cnn.h5'));
  const config = structuredClone(modelConfig);
  edit((config.config as { layers: LayerEntry[] }).layers);
  return config;
}

function layer(layers: LayerEntry[], name: string): LayerEntry {
  const found = layers.find((entry) => entry.name === name);
  assert.ok(found !== undefined, `functional-cnn.h5 has no layer ${name}`);
  return found;
}

/**
 * Builds the model of functional-cnn.h5 with `modelConfig` in a child process. A config on
 * which TF.js loops would stall this test process, so the child has a deadline.
 */
function buildInChild(modelConfig: KerasModelConfig): Promise<number> {
  return runInChild<number>(
    new URL(`./layer-graph-entry${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
    { task: 'buildWithConfig', args: [fixture('functional-cnn.h5'), 'functional-cnn.h5', modelConfig] },
    { timeoutMs: 60_000, describeFailure: ({ timedOut }) => new Error(timedOut ? 'building the model did not finish within 60 s' : 'the child process died') },
  );
}

async function assertRejected(modelConfig: KerasModelConfig, layerName: string, pattern: RegExp): Promise<void> {
  await assert.rejects(buildInChild(modelConfig), (error: unknown) => {
    assert.ok(isCentroidError(error), `expected a CentroidError, got ${String(error)}`);
    assert.equal(error.code, 'MODEL_INVALID', error.message);
    assert.equal(error.location.layer, layerName);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('layer graph check', () => {
  test('builds the unchanged config', async () => {
    assert.equal(await buildInChild(await editedConfig(() => {})), 14);
  });

  test('rejects an entry name unlike the config name', async () => {
    // Found by fuzzing: TF.js 4.22 looped forever on this one-byte change.
    const config = await editedConfig((layers) => {
      layer(layers, 'global_average_pooling2d').name = 'global_average_pooling7d';
    });

    await assertRejected(config, 'global_average_pooling7d', /^functional-cnn\.h5: layer "global_average_pooling7d" of model "functional_cnn" has the name "global_average_pooling2d" in its config; expected the same name\.$/);
  });

  test('rejects an input from a missing layer', async () => {
    const config = await editedConfig((layers) => {
      layer(layers, 'concat').inbound_nodes = [[['global_average_pooling2d', 0, 0, {}], ['no_such_layer', 0, 0, {}]]];
    });

    await assertRejected(config, 'concat', /layer "concat" of model "functional_cnn" takes its input from layer "no_such_layer", which the model config does not contain/);
  });

  test('rejects a node that is never created', async () => {
    const config = await editedConfig((layers) => {
      layer(layers, 'dropout').inbound_nodes = [[['concat', 3, 0, {}]]];
    });

    await assertRejected(config, 'dropout', /takes its input from node 3 of layer "concat", which the config never creates \(the layer gets 1 nodes\)/);
  });

  test('rejects a cycle', async () => {
    const config = await editedConfig((layers) => {
      layer(layers, 'conv_a').inbound_nodes = [[['relu_a', 0, 0, {}]]];
    });

    await assertRejected(config, 'conv_a', /layer "conv_a" of model "functional_cnn" takes its input from node 0 of layer "relu_a", which the config never creates \(the layer gets 0 nodes\)/);
  });

  test('rejects two layers of one name', async () => {
    const config = await editedConfig((layers) => {
      const pool = layer(layers, 'pool');
      pool.name = 'conv_a';
      pool.config.name = 'conv_a';
    });

    await assertRejected(config, 'conv_a', /the model config of model "functional_cnn" has more than one layer named "conv_a"; expected unique names/);
  });

  test('rejects the cycle at submit', async (t: TestContext) => {
    const config = await editedConfig((layers) => {
      layer(layers, 'conv_a').inbound_nodes = [[['relu_a', 0, 0, {}]]];
    });
    await loadH5wasm();
    const memfsPath = await writeIntoMemfs(await readFile(fixture('functional-cnn.h5')));
    const path = join(await temporaryFolder(t), 'cycle.h5');
    try {
      const file = openH5File(memfsPath, 'a');
      file.delete_attribute('model_config');
      file.create_attribute('model_config', JSON.stringify(config));
      file.close();
      await writeFile(path, readMemfsFile(memfsPath));
    } finally {
      removeMemfsFile(memfsPath);
    }

    await assert.rejects(inspectModelFile(path), (error: unknown) => {
      assert.ok(isCentroidError(error), `expected a CentroidError, got ${String(error)}`);
      assert.equal(error.code, 'MODEL_INVALID');
      assert.match(error.message, /^cycle\.h5: layer "conv_a" of model "functional_cnn" takes its input from node 0 of layer "relu_a"/);
      return true;
    });
  });
});
