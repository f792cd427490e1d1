// Every error response is application/problem+json carrying the product's error code and
// the request id, whatever raised the error.
import { CentroidError, ParamsError, toProblem, type Problem } from '@centroid/contracts';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { describeContentType, notMultipart, UploadAbortedError } from './job-submission.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function sendProblem(reply: FastifyReply, error: CentroidError, headers: Record<string, string> = {}): FastifyReply {
  const issues = error instanceof ParamsError ? error.issues : undefined;
  const problem: Problem = toProblem(error, reply.request.id, issues);
  return reply.code(problem.status).headers(headers).type(PROBLEM_CONTENT_TYPE).send(problem);
}

// Errors from Fastify and its plugins carry a status code but none of the product's codes.
const FRAMEWORK_CODES: Record<string, CentroidError['code']> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UPLOAD_NOT_MULTIPART',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'UPLOAD_NOT_MULTIPART',
  FST_REQ_FILE_TOO_LARGE: 'UPLOAD_TOO_LARGE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'UPLOAD_TOO_LARGE',
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
};

/** The parts of a request that a 415 message names. */
export interface RequestBodyContext {
  /** The request's Content-Type header. */
  contentType?: string;
  /** True for the upload route, POST /v1/jobs, whose body must be multipart/form-data. */
  isUpload?: boolean;
  /** The method and path, such as `POST /v1/jobs/ID/cancel`, for other routes. */
  route?: string;
}

/**
 * Converts any error into a CentroidError, keeping the message only for client errors.
 * A 415 names the request's content type and what the route accepts.
 */
export function toCentroidError(error: unknown, request: RequestBodyContext = {}): CentroidError {
  if (error instanceof CentroidError) return error;

  const framework = error as Partial<FastifyError>;
  const status = framework.statusCode ?? 500;
  const mapped = framework.code === undefined ? undefined : FRAMEWORK_CODES[framework.code];
  if (mapped === 'URI_TOO_LONG') {
    // Fastify's message repeats the whole URL, which can be very long.
    return new CentroidError(mapped, 'A path segment is longer than 100 characters, the limit. Job ids and artifact names are shorter: check the URL.');
  }
  if (mapped === 'UPLOAD_NOT_MULTIPART') {
    if (request.isUpload !== false) return notMultipart(request.contentType);
    return new CentroidError(
      'MEDIA_TYPE_UNSUPPORTED',
      `${request.route ?? 'This route'} takes no body of type ${describeContentType(request.contentType)}. Send it with no body, or with a JSON body.`,
    );
  }
  if (mapped !== undefined) return new CentroidError(mapped, framework.message ?? mapped);
  if (status >= 400 && status < 500) return new CentroidError('REQUEST_INVALID', framework.message ?? 'Invalid request.');

  return new CentroidError('INTERNAL', 'Internal error. The server log has the details under this request id.');
}

/** Fastify error handler: logs server errors with their cause and replies with a problem. */
export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof UploadAbortedError) {
    // A client that disconnects is not a server fault. The reply below is dropped because the connection is closed.
    request.log.warn('client closed the connection during the upload');
    return sendProblem(reply, new CentroidError('REQUEST_INVALID', error.message));
  }

  const route = request.routeOptions.url;
  const centroidError = toCentroidError(error, {
    contentType: request.headers['content-type'],
    isUpload: request.method === 'POST' && route === '/v1/jobs',
    route: `${request.method} ${request.url.split('?')[0]!.slice(0, 100)}`,
  });

  if (centroidError.status >= 500) request.log.error({ err: error, code: centroidError.code }, 'request failed');
  else request.log.info({ code: centroidError.code, detail: centroidError.message }, 'request rejected');

  return sendProblem(reply, centroidError);
}
