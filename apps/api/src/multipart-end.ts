// Detects whether a multipart body reached its closing boundary. @fastify/multipart 9.4 ends
// the part iterator without an error when the body stops early, and reports only a file part
// that was cut short, so the parser alone cannot tell a complete body from a truncated one.
import type { IncomingMessage } from 'node:http';

export interface MultipartEndWatch {
  /** The boundary from the Content-Type header. */
  boundary: string;
  /** Returns true once the body has contained the closing boundary line `--{boundary}--`. */
  reachedClosingBoundary: () => boolean;
}

/**
 * Watches the raw request body for the closing boundary. Call it before the body is piped
 * into the multipart parser: it pauses the request, and the parser's pipe resumes it, so both
 * see every chunk. Returns null when the Content-Type header has no boundary, which the
 * parser rejects itself.
 */
export function watchMultipartEnd(raw: IncomingMessage): MultipartEndWatch | null {
  const boundary = boundaryOf(raw.headers['content-type']);
  if (boundary === null) return null;

  // A delimiter starts with CRLF, except at the very start of the body, so the body is searched
  // as if a CRLF preceded it.
  const closingDelimiter = Buffer.from(`\r\n--${boundary}--`);
  let tail = Buffer.from('\r\n');
  let found = false;

  const onData = (data: Buffer | string): void => {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    // Only the bytes around the chunk border are joined, so a large chunk is never copied.
    const seam = Buffer.concat([tail, chunk.subarray(0, closingDelimiter.length - 1)]);
    if (seam.includes(closingDelimiter) || chunk.includes(closingDelimiter)) {
      found = true;
      raw.off('data', onData);
      return;
    }
    // Keep the last bytes, enough to find a delimiter that straddles this chunk and the next.
    const joined = chunk.length >= closingDelimiter.length - 1 ? chunk : Buffer.concat([tail, chunk]);
    tail = Buffer.from(joined.subarray(Math.max(0, joined.length - closingDelimiter.length + 1)));
  };

  raw.pause();
  raw.on('data', onData);
  return { boundary, reachedClosingBoundary: () => found };
}

/** Returns the boundary parameter of a multipart Content-Type header, or null when it has none. */
export function boundaryOf(contentType: string | undefined): string | null {
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  if (match === null) return null;
  return match[1] ?? match[2] ?? null;
}
