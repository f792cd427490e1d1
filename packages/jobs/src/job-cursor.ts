// Opaque paging cursors for the job list. Clients must not parse them, so the encoding can
// change without breaking anyone.
import { CentroidError } from '@centroid/contracts';
import { isJobId } from './job-id.js';

/** Encodes the id of the last job on a page as a cursor for the next page. */
export function encodeJobCursor(lastJobId: string): string {
  return Buffer.from(JSON.stringify({ after: lastJobId }), 'utf8').toString('base64url');
}

/** Decodes a cursor to the id of the last job of the previous page; raises REQUEST_INVALID when malformed. */
export function decodeJobCursor(cursor: string): string {
  const invalid = new CentroidError('REQUEST_INVALID', 'Invalid cursor: pass the next_cursor value of the previous page unchanged.', {
    field: 'cursor',
  });

  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid;
  }

  const after = (decoded as { after?: unknown } | null)?.after;
  if (typeof after !== 'string' || !isJobId(after)) throw invalid;
  return after;
}
