// One HTTP POST of a webhook, made safe for user-supplied URLs: the connection goes to the
// address the guard checked, redirects are not followed, and at most a few kilobytes of the
// response are read.
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { ResolvedAddress } from './address-guard.js';

export interface PostOptions {
  /** Time allowed for the whole exchange, connection included, in milliseconds. */
  timeoutMs: number;
  /** Bytes of the response body read before the connection is closed. */
  maxResponseBytes: number;
  signal?: AbortSignal;
}

export interface PostResponse {
  status: number;
  /** The Retry-After header, if the receiver sent one. */
  retryAfter: string | undefined;
}

/**
 * Sends `body` to `url`, connecting to `address` whatever DNS returns meanwhile. Resolves with
 * the status of any response, 3xx included. Raises on a network failure or a timeout.
 */
export function postWebhook(
  url: URL,
  address: ResolvedAddress,
  body: string,
  headers: Record<string, string>,
  options: PostOptions,
): Promise<PostResponse> {
  const transport = url.protocol === 'https:' ? https : http;

  return new Promise<PostResponse>((resolve, reject) => {
    const request = transport.request(url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body).toString() },
      lookup: pinnedLookup(address),
      // A fresh agent per request, so no pooled socket to another address is reused.
      agent: false,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });

    const timer = setTimeout(() => {
      request.destroy(new Error(`Webhook request timed out after ${options.timeoutMs} ms.`));
    }, options.timeoutMs);

    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });

    request.on('response', (response) => {
      const result = { status: response.statusCode ?? 0, retryAfter: headerValue(response.headers['retry-after']) };
      let received = 0;

      const finish = (): void => {
        clearTimeout(timer);
        response.destroy();
        resolve(result);
      };

      response.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= options.maxResponseBytes) finish();
      });
      response.on('end', finish);
      response.on('error', finish);
    });

    request.end(body);
  });
}

/** Builds a `lookup` for http.request that returns the checked address for any host name. */
function pinnedLookup(address: ResolvedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    // Node 20 connects with autoSelectFamily, which requests every address at once.
    if (options.all === true) {
      (callback as unknown as (error: null, addresses: { address: string; family: number }[]) => void)(null, [address]);
      return;
    }
    callback(null, address.address, address.family);
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
