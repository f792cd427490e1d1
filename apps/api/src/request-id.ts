// Request ids. A caller's X-Request-Id is kept when it is short and plain, so that ids can be
// followed across services. Otherwise the server creates one.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const REQUEST_ID_HEADER = 'x-request-id';

const ACCEPTED_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

export function generateRequestId(request: IncomingMessage): string {
  const incoming = request.headers[REQUEST_ID_HEADER];
  if (typeof incoming === 'string' && ACCEPTED_REQUEST_ID.test(incoming)) return incoming;
  return `req_${randomUUID()}`;
}
