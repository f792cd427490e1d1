// The check an uploaded model passes before its job is queued, so that an obviously wrong
// file, or a `layers` rule that does not fit the model, is rejected at once instead of
// becoming a failed job.
import { CentroidError, decideLayers, describeModelLayers, type OutputFormat, type SelectionParams } from '@centroid/contracts';
import { inspectModelFile, outputFormatProblem } from '@centroid/model-io';

/**
 * Raises MODEL_FORMAT_UNSUPPORTED or MODEL_INVALID when the file at `path` is not a usable
 * model, and PARAMS_INVALID or LAYER_NOT_CLUSTERABLE when a `layers` rule of `params` names
 * a layer that the model lacks or that has nothing to cluster.
 */
export type ModelInspector = (path: string, filename: string, params: SelectionParams & { output_format?: OutputFormat }) => Promise<unknown>;

/**
 * Checks the model file (Keras `.h5`, Keras 3 `.keras` or zipped TF.js), its config and its
 * weight list, without reading weight values. Then checks that `output_format` can be
 * written from the upload's format and layer types, with the same check and message as
 * the worker. Last, it checks the job's `layers` rules with the same decisions the engine
 * makes.
 * Errors of the file name the form field `model` unless they point at something narrower.
 */
export const inspectUploadedModel: ModelInspector = async (path, filename, params) => {
  let inspection;
  try {
    inspection = await inspectModelFile(path, filename);
  } catch (error) {
    if (!(error instanceof CentroidError) || error.location.field !== undefined) throw error;
    throw new CentroidError(error.code, error.message, { ...error.location, field: 'model' }, { cause: error });
  }

  const outputFormat = params.output_format ?? 'same';
  const format = outputFormat === 'same' ? inspection.format : outputFormat;
  const problem = outputFormatProblem(inspection.format, format, inspection.weights, inspection.modelConfig);
  if (problem !== null) {
    throw new CentroidError('PARAMS_INVALID', `output_format "${outputFormat}": ${filename} ${problem}`, { field: 'output_format', file: filename });
  }

  if (params.layers !== undefined && params.layers.length > 0) {
    decideLayers(describeModelLayers(inspection.modelConfig, inspection.weights), params);
  }
  return inspection;
};
