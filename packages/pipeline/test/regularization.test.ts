import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { regularizationLoss } from '@centroid/engine';
import { readKerasH5, toLayersModel } from '@centroid/model-io';

// A Sequential model with L2, L1 and L1L2 regularizers and the penalty Keras computed for it.
const fixture = (name: string) => fileURLToPath(new URL(`../../model-io/test/fixtures/${name}`, import.meta.url));

describe('regularization loss', () => {
  it('equals Keras on a Sequential model', async () => {
    const expected = (JSON.parse(await readFile(fixture('regularized.losses.json'), 'utf8')) as { regularizationLoss: number })
      .regularizationLoss;
    const { model } = await toLayersModel(await readKerasH5(fixture('regularized.h5')));
    try {
      assert.ok(Math.abs(regularizationLoss(model) - expected) < 1e-6, `${regularizationLoss(model)} != ${expected}`);
    } finally {
      model.dispose();
    }
  });
});
