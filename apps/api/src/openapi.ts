// The OpenAPI 3.1 description of the HTTP API. Its schemas are generated from the same zod
// schemas that the server validates with and the worker writes, so the two cannot drift apart.
import {
  ERROR_CODES,
  JobPageSchema,
  JobParamsSchema,
  JobSchema,
  ProblemSchema,
  WebhookPayloadSchema,
  toJsonSchema as componentSchema,
} from '@centroid/contracts';

type JsonObject = Record<string, unknown>;

const ref = (name: string): JsonObject => ({ $ref: `#/components/schemas/${name}` });

const problemResponse = (description: string): JsonObject => ({
  description,
  content: { 'application/problem+json': { schema: ref('Problem') } },
});

const jobIdParameter = { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: 'Job id, as returned by POST /v1/jobs.' };

/** Multipart parts of POST /v1/jobs besides `params` and `model`. */
const DATASET_PARTS = ['dataset', 'x_train', 'y_train', 'x_test', 'y_test'] as const;

/** Builds the OpenAPI document. `serverUrl` is the base URL shown to readers, when one is configured. */
export function buildOpenApiDocument(serverUrl?: string): JsonObject {
  const datasetProperties = Object.fromEntries(
    DATASET_PARTS.map((part) => [
      part,
      {
        type: 'string',
        format: 'binary',
        description: part === 'dataset' ? 'Dataset as one NPZ file (optional).' : `Array ${part} as one .npy file, instead of the NPZ (optional).`,
      },
    ]),
  );

  return {
    openapi: '3.1.0',
    info: {
      title: 'Centroid',
      version: '0.1.0',
      description:
        'Compresses trained Keras and TensorFlow.js models by weight clustering. Submit a model with clustering parameters, ' +
        'follow the job, download the clustered model and its metrics. Every error is application/problem+json with a stable `code`.',
    },
    ...(serverUrl === undefined ? {} : { servers: [{ url: serverUrl }] }),
    paths: {
      '/v1/jobs': {
        post: {
          summary: 'Submit a clustering job',
          description:
            'Multipart form. The `params` part must come first. The model and dataset are checked before the job is queued, ' +
            'so a file that cannot be used is rejected here with 415 or 422.',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
              description:
                'Makes retries safe for 24 hours: the same key with the same request returns the first job (header Idempotent-Replayed: true), ' +
                'the same key with a different request is a 422, and a key whose first request is still being handled is a 409.',
            },
          ],
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  required: ['params', 'model'],
                  properties: {
                    params: { ...ref('JobParams'), description: 'Job parameters as JSON text.' },
                    model: { type: 'string', format: 'binary', description: 'The trained model file.' },
                    ...datasetProperties,
                  },
                },
                encoding: { params: { contentType: 'application/json' } },
              },
            },
          },
          responses: {
            202: {
              description: 'Accepted and queued. The Location header is the job URL.',
              headers: { Location: { schema: { type: 'string' }, description: 'URL of the job resource.' } },
              content: { 'application/json': { schema: ref('Job') } },
            },
            400: problemResponse('Malformed request: parts out of order, duplicated or unknown.'),
            409: problemResponse('A request with the same Idempotency-Key is still being handled.'),
            413: problemResponse('An upload exceeds its size limit.'),
            415: problemResponse('Not multipart, or a model file of an unsupported format.'),
            422: problemResponse('Invalid parameters, model or dataset. The problem names the field, layer or file at fault.'),
            503: problemResponse('Redis is unreachable or the server is shutting down.'),
          },
        },
        get: {
          summary: 'List jobs, newest first',
          parameters: [
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
            { name: 'cursor', in: 'query', schema: { type: 'string' }, description: 'The `next_cursor` of the previous page.' },
          ],
          responses: {
            200: { description: 'One page of jobs.', content: { 'application/json': { schema: ref('JobPage') } } },
            400: problemResponse('Invalid limit or cursor.'),
          },
        },
      },
      '/v1/jobs/{id}': {
        get: {
          summary: 'Read a job: status, progress, metrics, artifacts, error and webhook attempts',
          parameters: [jobIdParameter],
          responses: {
            200: { description: 'The job resource.', content: { 'application/json': { schema: ref('Job') } } },
            404: problemResponse('No job has this id.'),
          },
        },
      },
      '/v1/jobs/{id}/cancel': {
        post: {
          summary: 'Cancel a job',
          parameters: [jobIdParameter],
          responses: {
            200: { description: 'The job was queued and is now canceled, or had already ended.', content: { 'application/json': { schema: ref('Job') } } },
            202: { description: 'The job is running. Its worker stops it and marks it canceled.', content: { 'application/json': { schema: ref('Job') } } },
            404: problemResponse('No job has this id.'),
          },
        },
      },
      '/v1/jobs/{id}/artifacts': {
        get: {
          summary: "List a job's artifacts",
          parameters: [jobIdParameter],
          responses: {
            200: {
              description: 'The artifacts, empty until the job succeeds.',
              content: { 'application/json': { schema: { type: 'object', properties: { artifacts: { type: 'array', items: ref('Artifact') } } } } },
            },
            404: problemResponse('No job has this id.'),
          },
        },
      },
      '/v1/jobs/{id}/artifacts/{name}': {
        get: {
          summary: 'Download an artifact',
          description: 'Supports a single byte range. The ETag, Repr-Digest and X-Checksum-SHA256 headers carry the SHA-256 of the whole file.',
          parameters: [jobIdParameter, { name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: 'Artifact name, such as `model.h5`.' }],
          responses: {
            200: { description: 'The whole file.', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
            206: { description: 'The requested range.', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
            404: problemResponse('No such job or artifact.'),
            416: problemResponse('The range is outside the file.'),
          },
        },
      },
      '/livez': { get: { summary: 'Report that the process runs', responses: { 200: { description: 'Alive.' } } } },
      '/readyz': {
        get: {
          summary: 'Report whether the server can take requests',
          responses: { 200: { description: 'Ready.' }, 503: problemResponse('Redis is unreachable or the server is shutting down.') },
        },
      },
    },
    webhooks: {
      jobEnded: {
        post: {
          summary: 'Sent when a job ends, signed the Standard Webhooks way',
          requestBody: { content: { 'application/json': { schema: ref('WebhookPayload') } } },
          responses: { 200: { description: 'Any 2xx accepts the event. 410 stops delivery; other statuses are retried.' } },
        },
      },
    },
    components: {
      schemas: {
        JobParams: componentSchema(JobParamsSchema, 'input'),
        Job: componentSchema(JobSchema, 'output'),
        JobPage: componentSchema(JobPageSchema, 'output'),
        Artifact: componentSchema(JobSchema.shape.artifacts.element, 'output'),
        Problem: { ...componentSchema(ProblemSchema, 'output'), description: `Error codes: ${Object.keys(ERROR_CODES).join(', ')}.` },
        WebhookPayload: componentSchema(WebhookPayloadSchema, 'output'),
      },
    },
  };
}
