// Reads the multipart body of `POST /v1/jobs`: the `params` part first, then the model and an
// optional dataset, each streamed to disk. The model is one `model` file, or a TF.js
// `model.json` with `model_weights` shard parts packed into one zip. The dataset is one
// `dataset` NPZ, or `.npy` parts packed into one NPZ. Every part is consumed even after a rejection, so the response goes out
// only once the whole request has been read.
import { CentroidError, JobParamsSchema, parseOrThrow, type JobParams } from '@centroid/contracts';
import type { ArtifactStore, StoredUpload } from '@centroid/jobs';
import type { Multipart } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { watchMultipartEnd } from './multipart-end.js';
import { NPY_PART_NAMES, NpyPartsPacker, isNpyPartName } from './npy-parts.js';
import { MODEL_WEIGHTS_PART, TfjsPartsPacker, isModelJsonPart } from './tfjs-parts.js';
import { checkWebhookUrl } from './webhook-check.js';

export interface UploadLimits {
  /** Maximum size of the model file, in bytes. */
  maxModelBytes: number;
  /** Maximum size of the dataset file, in bytes. */
  maxDatasetBytes: number;
  /** Maximum size of the params part, in bytes. */
  maxParamsBytes: number;
}

export interface JobSubmission {
  params: JobParams;
  model: StoredUpload;
  /** File names of the `model_weights` parts when the model came as TF.js parts, or null when it came as one file. */
  modelWeightParts: string[] | null;
  dataset: StoredUpload | null;
}

/** Parts per submission: params, model, up to 250 TF.js weight shards, and the dataset parts. */
export const MAX_MULTIPART_PARTS = 256;

const PART_NAMES = ['params', 'model', MODEL_WEIGHTS_PART, 'dataset', ...NPY_PART_NAMES];

/** Raised when the client closes the connection before it has sent the whole body. */
export class UploadAbortedError extends Error {
  constructor() {
    super('The client closed the connection before the request body was complete.');
    this.name = 'UploadAbortedError';
  }
}

/**
 * Reads the submission of job `jobId`, storing its files with `artifacts`. A webhook URL on a
 * loopback or private address is accepted only with `allowPrivateWebhooks`. Raises a
 * CentroidError for the first problem found, or UploadAbortedError when the client disconnects.
 * Files stored before the problem stay on disk, and the caller removes them.
 */
export async function readJobSubmission(
  request: FastifyRequest,
  jobId: string,
  artifacts: ArtifactStore,
  limits: UploadLimits,
  allowPrivateWebhooks: boolean,
): Promise<JobSubmission> {
  let params: JobParams | null = null;
  let model: StoredUpload | null = null;
  let dataset: StoredUpload | null = null;
  // The assertion keeps TypeScript from narrowing to null, because handlePart assigns it.
  let npyParts = null as NpyPartsPacker | null;
  let tfjsParts = null as TfjsPartsPacker | null;
  let rejection: unknown = null;
  let partIndex = 0;
  let paramsPartSeen = false;
  // The rejection of a first part other than params. It is reported as a missing params
  // part instead when no params part follows.
  let paramsNotFirst: CentroidError | null = null;

  const handlePart = async (part: Multipart): Promise<void> => {
    const isFirst = partIndex++ === 0;
    if (isFirst && part.fieldname !== 'params') {
      paramsNotFirst = new CentroidError(
        'REQUEST_INVALID',
        `The first multipart part must be 'params' (the job parameters as JSON), but '${part.fieldname}' came first. Send params before the files.`,
        { field: 'params' },
      );
      throw paramsNotFirst;
    }
    if (!PART_NAMES.includes(part.fieldname)) {
      throw new CentroidError(
        'REQUEST_INVALID',
        `Unknown multipart part '${part.fieldname}': expected params, model (with ${MODEL_WEIGHTS_PART} parts for a TF.js model.json), ` +
          `and either dataset or the .npy parts ${NPY_PART_NAMES.join(', ')}.`,
        { field: part.fieldname },
      );
    }

    if (part.fieldname === 'params') {
      if (params !== null) throw duplicatePart('params');
      params = await readParams(part, limits.maxParamsBytes);
      if (params.webhook !== undefined) checkWebhookUrl(params.webhook.url, allowPrivateWebhooks);
      return;
    }

    if (part.type !== 'file') {
      throw new CentroidError('REQUEST_INVALID', `Part '${part.fieldname}' must be a file upload, not a text field.`, {
        field: part.fieldname,
      });
    }

    if (isNpyPartName(part.fieldname)) {
      if (dataset !== null) throw mixedDatasetForms(part.fieldname);
      // The first part is always params, so it has been parsed by now.
      const jobParams = params as JobParams | null;
      if (jobParams === null) throw new Error('the params part was not parsed before a .npy part');
      npyParts ??= new NpyPartsPacker({ artifacts, jobId, maxBytes: limits.maxDatasetBytes });
      await npyParts.add(part.fieldname, part.file, part.filename, jobParams);
      return;
    }
    if (part.fieldname === 'dataset' && npyParts !== null) throw mixedDatasetForms('dataset');

    const isTfjsPart = part.fieldname === MODEL_WEIGHTS_PART || (part.fieldname === 'model' && isModelJsonPart(part.filename, part.mimetype));
    if (isTfjsPart) {
      if (model !== null) throw mixedModelForms(model.filename);
      tfjsParts ??= new TfjsPartsPacker({ artifacts, jobId, maxBytes: limits.maxModelBytes });
      if (part.fieldname === 'model') await tfjsParts.addModelJson(part.file, part.filename);
      else await tfjsParts.addShard(part.file, part.filename);
      return;
    }
    if (part.fieldname === 'model' && tfjsParts !== null) throw mixedModelForms(part.filename);

    const field = part.fieldname === 'model' ? 'model' : 'dataset';
    if ((field === 'model' ? model : dataset) !== null) throw duplicatePart(field);

    const maxBytes = field === 'model' ? limits.maxModelBytes : limits.maxDatasetBytes;
    const stored = await artifacts.saveUpload({ jobId, field, filename: part.filename, source: part.file, maxBytes });
    if (field === 'model') model = stored;
    else dataset = stored;
  };

  const bodyEnd = watchMultipartEnd(request.raw);
  let parserError: unknown = null;
  try {
    for await (const part of request.parts()) {
      if (part.fieldname === 'params') paramsPartSeen = true;
      if (rejection === null) {
        await handlePart(part).catch((error: unknown) => {
          rejection = error;
        });
      }
      await drainPart(part);
    }
  } catch (error) {
    parserError = error;
  }

  // Packed .npy parts are finished at the end when the submission is complete, and
  // otherwise closed here so that the partial file can be removed.
  const complete =
    !request.raw.readableAborted &&
    rejection === null &&
    parserError === null &&
    (bodyEnd === null || bodyEnd.reachedClosingBoundary()) &&
    params !== null &&
    (model !== null || tfjsParts !== null);
  if (npyParts !== null && !complete) await npyParts.discard();
  if (tfjsParts !== null && !complete) await tfjsParts.discard();
  if (request.raw.readableAborted) throw new UploadAbortedError();
  if (rejection !== null && rejection === paramsNotFirst && !paramsPartSeen) throw missingParams();
  if (rejection instanceof CentroidError) throw rejection;
  // A body cut short also makes the parser or the upload writer fail with a generic error,
  // so the missing closing boundary is reported first because it names the actual problem.
  if (bodyEnd !== null && !bodyEnd.reachedClosingBoundary()) {
    throw new CentroidError(
      'REQUEST_INVALID',
      `The multipart body ends before its closing boundary line '--${bodyEnd.boundary}--', so it is truncated or malformed. Send the whole body.`,
    );
  }
  if (rejection !== null) throw rejection;
  if (parserError !== null) throw toMultipartError(parserError, request.headers['content-type']);
  if (params === null) throw missingParams();
  let modelWeightParts: string[] | null = null;
  if (tfjsParts !== null) {
    model = await tfjsParts.finish();
    modelWeightParts = tfjsParts.shardFilenames;
  }
  if (model === null) {
    throw new CentroidError('UPLOAD_MISSING', "Missing model file: send it as the multipart file part 'model'.", { field: 'model' });
  }
  if (npyParts !== null) dataset = await npyParts.finish(params);
  return { params, model, modelWeightParts, dataset };
}

async function readParams(part: Multipart, maxBytes: number): Promise<JobParams> {
  let value: unknown;

  if (part.type === 'file') {
    value = await readSmallFile(part.file, maxBytes);
  } else {
    if (part.valueTruncated) throw paramsTooLarge(maxBytes);
    value = part.value;
  }

  // @fastify/multipart has already parsed a field sent with content type application/json.
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch (error) {
      throw new CentroidError('REQUEST_INVALID', `Part 'params' is not valid JSON: ${(error as Error).message}`, { field: 'params' });
    }
  }

  return parseOrThrow(JobParamsSchema, value);
}

async function readSmallFile(stream: AsyncIterable<Buffer>, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of stream) {
    bytes += chunk.length;
    if (bytes <= maxBytes) chunks.push(chunk);
  }
  if (bytes > maxBytes) throw paramsTooLarge(maxBytes);
  return Buffer.concat(chunks).toString('utf8');
}

// A file part must be read to its end before the parser delivers the next part.
async function drainPart(part: Multipart): Promise<void> {
  if (part.type !== 'file' || part.file.readableEnded || part.file.destroyed) return;
  part.file.resume();
  await new Promise<void>((resolve) => {
    part.file.once('end', resolve);
    part.file.once('close', resolve);
  });
}

function missingParams(): CentroidError {
  return new CentroidError(
    'REQUEST_INVALID',
    "Missing multipart part 'params' with the job parameters as JSON. Send it as the first part, such as -F 'params={\"number_of_clusters\":16}'.",
    { field: 'params' },
  );
}

function duplicatePart(field: string): CentroidError {
  return new CentroidError('REQUEST_INVALID', `Part '${field}' appears more than once. Send it once.`, { field });
}

function mixedDatasetForms(field: string): CentroidError {
  return new CentroidError(
    'REQUEST_INVALID',
    `Part '${field}' mixes the two forms of dataset: send either one NPZ as the part 'dataset' or the .npy parts ${NPY_PART_NAMES.join(', ')}, not both.`,
    { field },
  );
}

/** File name endings of the single-file model formats: Keras HDF5, Keras 3 archive and zipped TF.js. */
const MODEL_FILE_EXTENSIONS = ['.h5', '.hdf5', '.keras', '.zip'];

/**
 * Returns the error for a `model` part read as one model file, named `modelFilename`, that
 * comes with `model_weights` parts. A name with a model file extension means the client
 * mixed the two forms. Any other name is most likely a model.json sent under a name
 * without `.json`, so the error explains how to name it.
 */
function mixedModelForms(modelFilename: string): CentroidError {
  const lowerName = modelFilename.toLowerCase();
  if (MODEL_FILE_EXTENSIONS.some((extension) => lowerName.endsWith(extension))) {
    return new CentroidError(
      'REQUEST_INVALID',
      `The model is sent both as one file (${JSON.stringify(modelFilename)}) and as TF.js parts: send either one model file as the part 'model', ` +
        `or model.json as 'model' with one '${MODEL_WEIGHTS_PART}' part per weight shard.`,
      { field: 'model' },
    );
  }

  const named = modelFilename === '' ? 'has no file name' : `has the file name ${JSON.stringify(modelFilename)}`;
  return new CentroidError(
    'REQUEST_INVALID',
    `The part 'model' ${named}, which does not end in .json, so it is read as one model file, and one model file cannot come with ` +
      `'${MODEL_WEIGHTS_PART}' parts. To send a TF.js model.json with its shards, give the part 'model' a file name ending in .json ` +
      `(curl: -F "model=@FILE;filename=model.json") or the content type application/json. To send one model file, leave out the '${MODEL_WEIGHTS_PART}' parts.`,
    { field: 'model' },
  );
}

/**
 * Returns the 415 for a body that is not multipart/form-data, naming the request's
 * content type (its first 100 characters). Every path that detects such a body uses it.
 */
export function notMultipart(contentType: string | undefined): CentroidError {
  return new CentroidError(
    'UPLOAD_NOT_MULTIPART',
    `Expected a multipart/form-data body with the parts params and model, and dataset to fine-tune, got ${describeContentType(contentType)}. GET /openapi.json describes the parts.`,
  );
}

/** Returns a request's content type quoted for a message, cut to its first 100 characters. */
export function describeContentType(contentType: string | undefined): string {
  if (contentType === undefined) return 'no Content-Type header';
  return contentType.length > 100 ? `'${contentType.slice(0, 100)}…'` : `'${contentType}'`;
}

function paramsTooLarge(maxBytes: number): CentroidError {
  return new CentroidError('UPLOAD_TOO_LARGE', `Part 'params' is larger than the limit of ${maxBytes} bytes.`, { field: 'params' });
}

function toMultipartError(error: unknown, contentType: string | undefined): unknown {
  const code = (error as { code?: unknown }).code;
  if (error instanceof CentroidError) return error;
  if (code === 'FST_INVALID_JSON_FIELD_ERROR') {
    return new CentroidError('REQUEST_INVALID', "Part 'params' is not valid JSON.", { field: 'params' });
  }
  if (code === 'FST_PARTS_LIMIT' || code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT') {
    return new CentroidError(
      'REQUEST_INVALID',
      `Too many multipart parts: at most ${MAX_MULTIPART_PARTS} are accepted (params, model, the model_weights shards of a TF.js model, and dataset or the .npy parts). Send a TF.js model with many shards as one zip.`,
    );
  }
  if ((error as Error).message === 'Multipart: Boundary not found') {
    return new CentroidError('REQUEST_INVALID', "The Content-Type header has no boundary parameter: send 'multipart/form-data; boundary=...'.");
  }
  if (code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') return notMultipart(contentType);
  return new CentroidError('REQUEST_INVALID', `Invalid multipart body: ${(error as Error).message}`);
}
