// The Fastify application: plugins, error handling and routes. It stays thin: it validates,
// stores, enqueues and reads, and everything else happens in the worker.
import fastifyMultipart from '@fastify/multipart';
import { CentroidError } from '@centroid/contracts';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { RouteDependencies } from './dependencies.js';
import { buildLoggerOptions } from './logger-options.js';
import { inspectUploadedDataset } from './dataset-check.js';
import { inspectUploadedModel } from './model-check.js';
import { handleError, sendProblem } from './problem-reply.js';
import { REQUEST_ID_HEADER, generateRequestId } from './request-id.js';
import { registerCancelJobRoute } from './routes/cancel-job.js';
import { registerCreateJobRoute } from './routes/create-job.js';
import { registerDownloadArtifactRoute } from './routes/download-artifact.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerReadJobRoutes } from './routes/read-jobs.js';
import { registerApiDocs } from './routes/api-docs.js';
import { handleClientError } from './client-error.js';
import { MAX_MULTIPART_PARTS } from './job-submission.js';
import { registerMetricsRoute } from './routes/metrics.js';

export const DEFAULT_MAX_MODEL_BYTES = 2 * 1024 ** 3;
export const DEFAULT_MAX_DATASET_BYTES = 4 * 1024 ** 3;
export const DEFAULT_MAX_PARAMS_BYTES = 64 * 1024;

export interface AppOptions
  extends Omit<RouteDependencies, 'limits' | 'inspectModel' | 'inspectDataset' | 'publicUrl' | 'allowPrivateWebhooks' | 'isShuttingDown'> {
  limits?: {
    /** @defaultValue 2 GiB */
    maxModelBytes?: number;
    /** @defaultValue 4 GiB */
    maxDatasetBytes?: number;
    /** @defaultValue 64 KiB */
    maxParamsBytes?: number;
  };
  /** Check of an uploaded model before queuing. @defaultValue model-io's inspection of the Keras HDF5 file */
  inspectModel?: RouteDependencies['inspectModel'];
  /** Check of an uploaded dataset before queuing. @defaultValue the NPZ array names and sample counts */
  inspectDataset?: RouteDependencies['inspectDataset'];
  /** Base of absolute URLs in job resources. @defaultValue the scheme and host of each request */
  publicUrl?: string;
  /**
   * Accepts webhook URLs whose host is a loopback, private, link-local, CGNAT or reserved IP
   * address, for tests and demos with a local receiver. The worker needs the same setting to
   * deliver to them. @defaultValue false
   */
  allowPrivateWebhooks?: boolean;
  /** @defaultValue a function that always returns false */
  isShuttingDown?: () => boolean;
  /** Fastify logger settings (pino options, optionally with a `stream`), or false for none. @defaultValue info level with redaction */
  logger?: FastifyServerOptions['logger'];
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const dependencies: RouteDependencies = {
    ...options,
    limits: {
      maxModelBytes: options.limits?.maxModelBytes ?? DEFAULT_MAX_MODEL_BYTES,
      maxDatasetBytes: options.limits?.maxDatasetBytes ?? DEFAULT_MAX_DATASET_BYTES,
      maxParamsBytes: options.limits?.maxParamsBytes ?? DEFAULT_MAX_PARAMS_BYTES,
    },
    inspectModel: options.inspectModel ?? inspectUploadedModel,
    inspectDataset: options.inspectDataset ?? inspectUploadedDataset,
    publicUrl: options.publicUrl,
    allowPrivateWebhooks: options.allowPrivateWebhooks ?? false,
    isShuttingDown: options.isShuttingDown ?? (() => false),
  };

  const app = Fastify({
    logger: options.logger === undefined ? buildLoggerOptions() : options.logger,
    genReqId: generateRequestId,
    // Uploads of several gigabytes over slow links take long, so no overall request deadline.
    requestTimeout: 0,
    clientErrorHandler: handleClientError,
    // Errors raised while routing (a path segment over the length limit, a malformed URL)
    // get the same problem+json body and request id header as every other error.
    frameworkErrors: (error, request, reply) => {
      void reply.header(REQUEST_ID_HEADER, request.id);
      handleError(error, request, reply);
    },
  });

  const { maxModelBytes, maxDatasetBytes, maxParamsBytes } = dependencies.limits;
  await app.register(fastifyMultipart, {
    // The upload writer enforces each file's own limit and reports it. This backstop is one
    // byte above the larger limit, so the writer always detects the excess first.
    limits: { fileSize: Math.max(maxModelBytes, maxDatasetBytes, maxParamsBytes) + 1, fieldSize: maxParamsBytes, parts: MAX_MULTIPART_PARTS },
    throwFileSizeLimit: false,
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    sendProblem(reply, new CentroidError('ROUTE_NOT_FOUND', `No route for ${request.method} ${request.url.split('?')[0]}.`));
  });

  registerMetricsRoute(app, dependencies.readSharedMetrics);
  await registerApiDocs(app, options.publicUrl);
  registerHealthRoutes(app, dependencies);
  registerCreateJobRoute(app, dependencies);
  registerReadJobRoutes(app, dependencies);
  registerCancelJobRoute(app, dependencies);
  registerDownloadArtifactRoute(app, dependencies);

  return app;
}
