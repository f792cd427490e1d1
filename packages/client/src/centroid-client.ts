// Typed client for the Centroid REST API on Node 20's fetch. Uploads send file-backed Blobs
// (fs.openAsBlob) and downloads stream to disk, so the client never reads a whole model into memory.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, openAsBlob } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { JobPageSchema, JobSchema, type Job, type JobPage, type JobParamsInput } from '@centroid/contracts';
import { toApiError } from './api-error.js';

export interface CentroidClientOptions {
  /** Base URL of the API, such as `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** Headers sent with every request, such as Authorization. */
  headers?: Record<string, string>;
  /** fetch implementation. @defaultValue the global fetch */
  fetch?: typeof fetch;
}

export interface SubmitJobOptions {
  params: JobParamsInput;
  /** Local path of the model file. */
  modelPath: string;
  /** Local path of the NPZ dataset, omitted for a data-free job. */
  datasetPath?: string;
  /** Extra headers for this request, such as X-Request-Id. */
  headers?: Record<string, string>;
}

export interface WaitForJobOptions {
  /** Called with the job whenever its status or progress changes. */
  onUpdate?: (job: Job) => void;
  /** Time between polls, in milliseconds. @defaultValue 1000 */
  intervalMs?: number;
  /** Gives up after this long, in milliseconds. @defaultValue no limit */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface DownloadedArtifact {
  path: string;
  bytes: number;
  /** Lower-case hex SHA-256 of the downloaded content, checked against the server's. */
  sha256: string;
}

/** Raised when a downloaded artifact does not match the checksum the server announced. */
export class ChecksumMismatchError extends Error {
  constructor(name: string, expected: string, actual: string) {
    super(`Artifact '${name}' has SHA-256 ${actual} but the server announced ${expected}. Download it again.`);
    this.name = 'ChecksumMismatchError';
  }
}

export class CentroidClient {
  private readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly fetch: typeof fetch;

  constructor(options: CentroidClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.headers = options.headers ?? {};
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  /** Uploads a model (and dataset) with its parameters. The params part goes first, as the API requires. */
  async submitJob(options: SubmitJobOptions): Promise<Job> {
    const form = new FormData();
    form.append('params', JSON.stringify(options.params));
    form.append('model', await openAsBlob(options.modelPath), path.basename(options.modelPath));
    if (options.datasetPath !== undefined) {
      form.append('dataset', await openAsBlob(options.datasetPath), path.basename(options.datasetPath));
    }

    const response = await this.request('/v1/jobs', { method: 'POST', body: form, headers: options.headers ?? {} });
    return JobSchema.parse(await response.json());
  }

  async getJob(id: string): Promise<Job> {
    const response = await this.request(`/v1/jobs/${encodeURIComponent(id)}`);
    return JobSchema.parse(await response.json());
  }

  /** Lists jobs newest first. Pass the `next_cursor` of a page to get the next one. */
  async listJobs(options: { limit?: number; cursor?: string } = {}): Promise<JobPage> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.cursor !== undefined) query.set('cursor', options.cursor);

    const response = await this.request(`/v1/jobs${query.size > 0 ? `?${query}` : ''}`);
    return JobPageSchema.parse(await response.json());
  }

  /** Requests cancellation and returns the job. A running job stays `running` until its worker stops it. */
  async cancelJob(id: string): Promise<Job> {
    const response = await this.request(`/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
    return JobSchema.parse(await response.json());
  }

  /** Polls the job until it succeeds, fails or is canceled, and returns it. */
  async waitForJob(id: string, options: WaitForJobOptions = {}): Promise<Job> {
    const intervalMs = options.intervalMs ?? 1000;
    const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
    let lastSeen = '';

    for (;;) {
      options.signal?.throwIfAborted();

      const job = await this.getJob(id);
      const seen = JSON.stringify([job.status, job.progress]);
      if (seen !== lastSeen) {
        lastSeen = seen;
        options.onUpdate?.(job);
      }
      if (job.done) return job;

      if (Date.now() + intervalMs > deadline) {
        throw new Error(`Job ${id} is still ${job.status} after ${options.timeoutMs} ms.`);
      }
      await sleep(intervalMs, options.signal);
    }
  }

  /**
   * Streams an artifact to `destination`, verifying its SHA-256 against the server's
   * x-checksum-sha256 header. The file appears at `destination` only when complete and verified.
   */
  async downloadArtifact(id: string, name: string, destination: string): Promise<DownloadedArtifact> {
    const response = await this.request(`/v1/jobs/${encodeURIComponent(id)}/artifacts/${encodeURIComponent(name)}`);
    const expected = response.headers.get('x-checksum-sha256');
    if (response.body === null) throw new Error(`Artifact '${name}' of job ${id} arrived without a body.`);

    const temporary = `${destination}.${randomBytes(4).toString('hex')}.part`;
    const hash = createHash('sha256');
    let bytes = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        bytes += chunk.length;
        callback(null, chunk);
      },
    });

    try {
      await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), measure, createWriteStream(temporary));
      const sha256 = hash.digest('hex');
      if (expected !== null && expected !== sha256) throw new ChecksumMismatchError(name, expected, sha256);

      await rename(temporary, destination);
      return { path: destination, bytes, sha256 };
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  private async request(pathAndQuery: string, init: RequestInit = {}): Promise<Response> {
    const response = await this.fetch(`${this.baseUrl}${pathAndQuery}`, {
      ...init,
      headers: { accept: 'application/json', ...this.headers, ...(init.headers as Record<string, string> | undefined) },
    });
    if (!response.ok) throw await toApiError(response);
    return response;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
