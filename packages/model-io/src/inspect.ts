// The quick check that the API runs on an upload before it queues a job.
import { basename } from 'node:path';

import { assertHdf5File } from './file-signature.js';
import { defaultTimeoutMs, runIsolatedH5Task } from './keras-h5/isolated.js';
import { translateModelConfig, unsupportedLayersError } from './keras-h5/tfjs-config.js';

import type { InspectedModelFile, ModelFileSummary } from './keras-h5/inspect.js';
import type { IsolationOptions } from './keras-h5/isolated.js';

export type { ModelFileSummary } from './keras-h5/inspect.js';

/** The summary of a model file, with the config and weight list that the check of `layers` rules needs. */
export interface ModelInspection extends ModelFileSummary {
  modelConfig: InspectedModelFile['modelConfig'];
  /** Every weight dataset, in file order, without values. */
  weights: InspectedModelFile['weights'];
}

/**
 * Checks that a model file is a Keras HDF5 model with a parsable config, at least one
 * weight tensor and only layers that TF.js can build, and summarises it. No weight values
 * are read, but the child process that runs the HDF5 library keeps a copy of the file in
 * memory while it works. Raises the errors of `readKerasH5`, MODEL_INVALID for a model
 * without weights, and MODEL_LAYER_UNSUPPORTED listing every layer that `toLayersModel`
 * would reject from the config alone.
 */
export async function inspectModelFile(
  path: string,
  filename: string = basename(path),
  options: IsolationOptions = {},
): Promise<ModelInspection> {
  await assertHdf5File(path, filename);
  const timeoutMs = options.timeoutMs ?? (await defaultTimeoutMs(path));
  const { summary, modelConfig, weights } = await runIsolatedH5Task<InspectedModelFile>('inspectKerasH5', [path, filename], timeoutMs, {
    filename,
    activity: 'inspecting the HDF5 file',
    failureCode: 'MODEL_INVALID',
  });

  // The config is checked here, in the caller, so that the child never loads TF.js. The
  // TF.js model itself is not built: that would allocate and initialise every weight, so
  // memory and time would grow with the model. Errors that only modelFromJSON raises,
  // such as an unknown activation, therefore still surface when the job runs.
  const { unsupported } = translateModelConfig(modelConfig);
  if (unsupported.length > 0) {
    throw unsupportedLayersError(filename, unsupported);
  }
  return { ...summary, modelConfig, weights };
}
