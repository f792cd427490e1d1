// The quick check that the API runs on an upload before it queues a job.
import { basename } from 'node:path';

import { assertHdf5File } from './file-signature.js';
import { defaultTimeoutMs, runIsolatedH5Task } from './keras-h5/isolated.js';

import type { IsolationOptions } from './keras-h5/isolated.js';
import type { ModelFileSummary } from './keras-h5/inspect.js';

export type { ModelFileSummary } from './keras-h5/inspect.js';

/**
 * Checks that a model file is a Keras HDF5 model with a parsable config and at least one
 * weight tensor, and summarises it. No weight values are read, but the child process
 * that runs the HDF5 library keeps a copy of the file in memory while it works.
 * Raises the errors of `readKerasH5`, and MODEL_INVALID for a model without weights.
 */
export async function inspectModelFile(
  path: string,
  filename: string = basename(path),
  options: IsolationOptions = {},
): Promise<ModelFileSummary> {
  await assertHdf5File(path, filename);
  const timeoutMs = options.timeoutMs ?? (await defaultTimeoutMs(path));
  return runIsolatedH5Task<ModelFileSummary>('inspectKerasH5', [path, filename], timeoutMs, {
    filename,
    activity: 'inspecting the HDF5 file',
    failureCode: 'MODEL_INVALID',
  });
}
