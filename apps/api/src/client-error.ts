// Responds with problem+json to requests that Node's HTTP parser rejects before Fastify routes
// them: headers too large, a malformed request line, a body cut short. No request object exists
// yet, so the response is written straight to the socket.
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { CentroidError, toProblem } from '@centroid/contracts';
import { PROBLEM_CONTENT_TYPE } from './problem-reply.js';
import { REQUEST_ID_HEADER } from './request-id.js';

/** Returns the error to report for a client error from Node's HTTP parser. */
export function clientErrorToCentroidError(error: NodeJS.ErrnoException): CentroidError {
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return new CentroidError('REQUEST_HEADERS_TOO_LARGE', 'The request line and headers are larger than the server accepts (16 KiB by default). Shorten the URL or the headers.');
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new CentroidError('REQUEST_TIMEOUT', 'The request headers did not arrive in time. Send the whole request without pausing.');
  }
  return new CentroidError('REQUEST_INVALID', `The request is not valid HTTP (${error.code ?? 'parse error'}). Check the request line, the headers and Content-Length.`);
}

/** Fastify's clientErrorHandler: writes a problem+json response and closes the connection. */
export function handleClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection cannot receive a response.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;

  if (socket.writable) {
    const requestId = `req_${randomUUID()}`;
    const problem = toProblem(clientErrorToCentroidError(error), requestId);
    const body = JSON.stringify(problem);
    const head = [
      `HTTP/1.1 ${problem.status} ${problem.title}`,
      `Content-Type: ${PROBLEM_CONTENT_TYPE}`,
      `Content-Length: ${Buffer.byteLength(body)}`,
      `${REQUEST_ID_HEADER}: ${requestId}`,
      'Connection: close',
    ];
    socket.write(`${head.join('\r\n')}\r\n\r\n${body}`);
  }
  socket.destroy(error);
}
