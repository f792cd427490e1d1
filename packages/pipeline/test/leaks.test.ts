// Runs many small jobs in one process, as a worker's pipeline would over its life, and checks
// that neither TF.js tensors nor resident memory accumulate.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fixturePath } from '@centroid/examples';
import { runPipeline } from '../src/index.js';
import { pipelineInput, withTempDir } from './helpers.js';

const JOBS = 100;
// Resident memory may still settle after the first jobs (JIT code, allocator pools), so growth
// is measured from job 20 to job 100. A leak of the tiny model (a few KB of tensors) per job
// would pass this bound, but one of its datasets or TF.js models would not.
const WARM_UP_JOBS = 20;
const MAX_RSS_GROWTH_BYTES = 64 * 1024 * 1024;

describe('pipeline memory', () => {
  it(`stays flat over ${JOBS} jobs`, { timeout: 15 * 60_000 }, async () => {
    await withTempDir(async (dir) => {
      const input = pipelineInput(fixturePath('tiny-cnn.h5'), fixturePath('tiny-cnn.npz'), dir, {
        number_of_clusters: 4,
        fine_tune: { epochs: 1, batch_size: 16 },
      });

      let tensorsAfterFirst = 0;
      let rssAfterWarmUp = 0;
      for (let job = 1; job <= JOBS; job++) {
        await runPipeline(input);
        if (job === 1) tensorsAfterFirst = tf.memory().numTensors;
        if (job === WARM_UP_JOBS) {
          global.gc?.();
          rssAfterWarmUp = process.memoryUsage().rss;
        }
      }
      global.gc?.();
      const rssGrowth = process.memoryUsage().rss - rssAfterWarmUp;

      assert.equal(tf.memory().numTensors, tensorsAfterFirst, 'live tensors after the last job');
      assert.ok(rssGrowth < MAX_RSS_GROWTH_BYTES, `resident memory grew by ${(rssGrowth / 2 ** 20).toFixed(1)} MiB`);
    });
  });
});
