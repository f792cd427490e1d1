import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { isCentroidError } from '@centroid/contracts';

import { runInChild } from '../src/isolation/run-in-child.js';

const ENTRY = new URL('./child-task-entry.ts', import.meta.url);

function run<T>(task: string, args: unknown[], timeoutMs = 30_000): Promise<T> {
  return runInChild<T>(ENTRY, { task, args }, {
    timeoutMs,
    describeFailure: ({ timedOut, exitCode }) => new Error(timedOut ? 'timed out' : `exited with code ${exitCode}`),
  });
}

describe('runInChild', () => {
  test('returns the task result', async () => {
    const result = await run<Float32Array>('double', [Float32Array.from([1.5, -2])]);

    assert.ok(result instanceof Float32Array);
    assert.deepEqual(Array.from(result), [3, -4]);
  });

  test('rebuilds a CentroidError', async () => {
    await assert.rejects(run('rejectUpload', ['model.h5']), (error: unknown) => {
      assert.ok(isCentroidError(error));
      assert.equal(error.code, 'MODEL_INVALID');
      assert.equal(error.message, 'model.h5 is damaged');
      assert.deepEqual(error.location, { file: 'model.h5' });
      return true;
    });
  });

  test('passes other errors on', async () => {
    await assert.rejects(run('throwTypeError', []), { name: 'TypeError', message: 'not a function' });
  });

  test('rejects an unknown task', async () => {
    await assert.rejects(run('noSuchTask', []), { message: 'unknown child task "noSuchTask"' });
  });

  test('reports a child that exits early', async () => {
    await assert.rejects(run('exitEarly', []), { message: 'exited with code 3' });
  });

  test('kills a child past its deadline', async () => {
    const started = Date.now();

    await assert.rejects(run('loopForever', [], 1_500), { message: 'timed out' });
    assert.ok(Date.now() - started < 10_000, 'the child was not killed in time');
  });
});
