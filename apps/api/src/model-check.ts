// The check an uploaded model passes before its job is queued, so that an obviously wrong
// file is rejected at once instead of becoming a failed job.
import { CentroidError } from '@centroid/contracts';
import { inspectModelFile } from '@centroid/model-io';

/** Raises MODEL_FORMAT_UNSUPPORTED or MODEL_INVALID when the file at `path` is not a usable model. */
export type ModelInspector = (path: string, filename: string) => Promise<unknown>;

/**
 * Checks the HDF5 signature, the Keras model config and the weight index, without reading
 * weight values. Errors name the form field `model` unless they point at something narrower.
 */
export const inspectUploadedModel: ModelInspector = async (path, filename) => {
  try {
    return await inspectModelFile(path, filename);
  } catch (error) {
    if (!(error instanceof CentroidError) || error.location.field !== undefined) throw error;
    throw new CentroidError(error.code, error.message, { ...error.location, field: 'model' }, { cause: error });
  }
};
