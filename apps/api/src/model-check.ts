// The check an uploaded model passes before its job is queued, so that an obviously wrong
// file, or a `layers` rule that does not fit the model, is rejected at once instead of
// becoming a failed job.
import { CentroidError, decideLayers, describeModelLayers, type OutputFormat, type SelectionParams } from '@centroid/contracts';
import { inspectModelFile, outputFormatProblem } from '@centroid/model-io';
import { MODEL_WEIGHTS_PART } from './tfjs-parts.js';

/**
 * Raises MODEL_FORMAT_UNSUPPORTED or MODEL_INVALID when the file at `path` is not a usable
 * model, and PARAMS_INVALID or LAYER_NOT_CLUSTERABLE when a `layers` rule of `params` names
 * a layer that the model lacks or that has nothing to cluster. `weightParts` contains the
 * file names of the `model_weights` parts of a TF.js model sent as parts, and is null for
 * a model sent as one file.
 */
export type ModelInspector = (
  path: string,
  filename: string,
  params: SelectionParams & { output_format?: OutputFormat },
  weightParts: readonly string[] | null,
) => Promise<unknown>;

/**
 * Checks the model file (Keras `.h5`, Keras 3 `.keras` or zipped TF.js), its config and its
 * weight list, without reading weight values. Then checks that `output_format` can be
 * written from the upload's format and layer types, with the same check and message as
 * the worker. Last, it checks the job's `layers` rules with the same decisions the engine
 * makes.
 * Errors of the file name the form field `model` unless they point at something narrower.
 * A `model_weights` part that model.json does not list is rejected, because it would be
 * stored with the model and counted in its original size.
 */
export const inspectUploadedModel: ModelInspector = async (path, filename, params, weightParts) => {
  let inspection;
  try {
    inspection = await inspectModelFile(path, filename);
  } catch (error) {
    if (!(error instanceof CentroidError) || error.location.field !== undefined) throw error;
    throw new CentroidError(error.code, error.message, { ...error.location, field: 'model' }, { cause: error });
  }

  if (weightParts !== null && inspection.tfjsShardPaths !== null) {
    checkWeightPartsListed(filename, weightParts, inspection.tfjsShardPaths);
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

/** Raises MODEL_INVALID naming the `model_weights` parts that model.json's weightsManifest does not list. */
function checkWeightPartsListed(filename: string, weightParts: readonly string[], listedShards: readonly string[]): void {
  const listed = new Set(listedShards);
  const unlisted = weightParts.filter((part) => !listed.has(part));
  if (unlisted.length === 0) return;

  const unlistedText = quoteList(unlisted);
  const listedText = listedShards.length === 0 ? 'no shard' : quoteList(listedShards);
  const subject = unlisted.length === 1 ? `the ${MODEL_WEIGHTS_PART} part ${unlistedText} is` : `the ${MODEL_WEIGHTS_PART} parts ${unlistedText} are`;
  throw new CentroidError(
    'MODEL_INVALID',
    `${filename}: ${subject} not in model.json's weightsManifest, which lists ${listedText}. Send only the shards that model.json lists.`,
    { field: MODEL_WEIGHTS_PART, file: unlisted[0] as string },
  );
}

/** Returns up to 10 names as a quoted, comma-separated list, followed by the count of the rest. */
function quoteList(names: readonly string[]): string {
  const shown = names.slice(0, 10).map((name) => JSON.stringify(name));
  const more = names.length > shown.length ? ` and ${names.length - shown.length} more` : '';
  return `${shown.join(', ')}${more}`;
}
