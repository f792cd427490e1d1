// A TF.js layers model sent as separate parts: `model.json` as the part `model` and each
// weight shard as a part `model_weights`, named by its file name. The parts are packed, as
// they stream in, into one zip of stored members, so that the job still has a single model
// file and the worker reads it as any zipped TF.js model.
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { CentroidError } from '@centroid/contracts';
import type { ArtifactStore, StoredUpload } from '@centroid/jobs';
import { ZipStreamWriter } from '@centroid/model-io';

/** Name of the multipart part that carries one weight shard of a TF.js model. */
export const MODEL_WEIGHTS_PART = 'model_weights';

/**
 * File name of the stored zip packed from TF.js parts. Errors and `inputs.model` name the
 * model by its parts instead (see `describeTfjsParts`), because the client never sent this file.
 */
export const PACKED_TFJS_FILENAME = 'model.tfjs.zip';

const MODEL_JSON = 'model.json';

export interface TfjsPartsOptions {
  artifacts: ArtifactStore;
  jobId: string;
  /** Maximum size in bytes of the packed zip, which is the parts plus about 100 bytes each. */
  maxBytes: number;
}

/**
 * Returns the name that stands for a TF.js model sent as parts, in errors and in the job's
 * `inputs.model.filename`, such as `TF.js parts model (model.json), model_weights (group1-shard1of1.bin)`.
 */
export function describeTfjsParts(modelJsonFilename: string, shardFilenames: readonly string[]): string {
  const shards = shardFilenames.length === 0 ? '' : `, ${MODEL_WEIGHTS_PART} (${shardFilenames.join(', ')})`;
  return `TF.js parts model (${modelJsonFilename})${shards}`;
}

/** Returns whether a `model` part is a TF.js `model.json`, judged by its file name or content type. */
export function isModelJsonPart(filename: string, mimetype: string): boolean {
  return filename.toLowerCase().endsWith('.json') || mimetype === 'application/json';
}

/** Returns why a shard's file name cannot be a member of the packed zip, or null when it can. */
function unsafeShardNameReason(name: string): string | null {
  if (name === '' || name === '.' || name === '..') {
    return 'it is empty or a dot path';
  }
  if (/[/\\\0]/.test(name)) {
    return 'it contains a path separator or a NUL character';
  }
  if (name === MODEL_JSON) {
    return 'model.json goes in the part model';
  }
  return null;
}

/** Collector of a TF.js model's parts into one stored zip upload. Call the add methods, then `finish` or `discard`. */
export class TfjsPartsPacker {
  private readonly stream = new PassThrough();
  private readonly saving: Promise<StoredUpload>;
  private readonly savingStopped: Promise<never>;
  private readonly writer: ZipStreamWriter;
  private readonly members = new Set<string>();
  /** The client's file name of the part `model`, once it came. */
  private modelJsonFilename = MODEL_JSON;
  private readonly maxBytes: number;

  constructor({ artifacts, jobId, maxBytes }: TfjsPartsOptions) {
    this.maxBytes = maxBytes;
    this.saving = artifacts.saveUpload({ jobId, field: 'model', filename: PACKED_TFJS_FILENAME, source: this.stream, maxBytes });
    // `finish` and `discard` read the outcome. This handler keeps an early failure from being unhandled.
    this.saving.catch(() => undefined);
    this.savingStopped = this.saving.then(
      () => Promise.reject(new Error('The model upload writer stopped before the packed zip ended.')),
      (error: unknown) => Promise.reject(error),
    );
    this.savingStopped.catch(() => undefined);
    this.writer = new ZipStreamWriter((chunk) => this.write(chunk));
  }

  /**
   * Streams the part `model`, which the client named `filename`, into the zip as
   * `model.json`. Raises REQUEST_INVALID when it came already.
   */
  async addModelJson(source: AsyncIterable<Uint8Array>, filename: string = MODEL_JSON): Promise<void> {
    if (this.members.has(MODEL_JSON)) {
      throw new CentroidError('REQUEST_INVALID', "Part 'model' appears more than once. Send it once.", { field: 'model' });
    }
    this.members.add(MODEL_JSON);
    if (filename !== '') this.modelJsonFilename = filename;
    await this.writer.addMember(MODEL_JSON, source);
  }

  /**
   * Streams a `model_weights` part into the zip under its file name, which is the shard
   * path that model.json lists. Raises REQUEST_INVALID for a name with a path separator
   * and for a name sent twice.
   */
  async addShard(source: AsyncIterable<Uint8Array>, filename: string): Promise<void> {
    const reason = unsafeShardNameReason(filename);
    if (reason !== null) {
      throw new CentroidError(
        'REQUEST_INVALID',
        `Part '${MODEL_WEIGHTS_PART}' has the file name ${JSON.stringify(filename)}, which is rejected because ${reason}. ` +
          'Name each shard as model.json lists it, such as group1-shard1of1.bin.',
        { field: MODEL_WEIGHTS_PART, file: filename },
      );
    }
    if (this.members.has(filename)) {
      throw new CentroidError('REQUEST_INVALID', `Shard '${filename}' is sent twice as part '${MODEL_WEIGHTS_PART}'. Send each shard once.`, {
        field: MODEL_WEIGHTS_PART,
        file: filename,
      });
    }
    this.members.add(filename);
    await this.writer.addMember(filename, source);
  }

  /** File names of the `model_weights` parts added so far, in the order they came. */
  get shardFilenames(): string[] {
    return [...this.members].filter((member) => member !== MODEL_JSON);
  }

  /**
   * Ends the zip and returns the stored upload, with `describeTfjsParts` as its file name.
   * Raises UPLOAD_MISSING without a model.json part, and UPLOAD_TOO_LARGE when the zip is
   * larger than `maxBytes`.
   */
  async finish(): Promise<StoredUpload> {
    if (!this.members.has(MODEL_JSON)) {
      await this.discard();
      throw new CentroidError(
        'UPLOAD_MISSING',
        `Parts '${MODEL_WEIGHTS_PART}' need the TF.js model.json as the part 'model' (a file name ending in .json).`,
        { field: 'model' },
      );
    }
    await this.writer.finish();
    this.stream.end();
    try {
      const stored = await this.saving;
      return { ...stored, filename: describeTfjsParts(this.modelJsonFilename, this.shardFilenames) };
    } catch (error) {
      if (error instanceof CentroidError && error.code === 'UPLOAD_TOO_LARGE') {
        throw new CentroidError(
          'UPLOAD_TOO_LARGE',
          `The TF.js model parts together are larger than the model limit of ${this.maxBytes} bytes.`,
          { field: 'model' },
          { cause: error },
        );
      }
      throw error;
    }
  }

  /** Ends the zip unfinished and waits until the partial file is closed, so that the caller can remove it. */
  async discard(): Promise<void> {
    this.stream.end();
    await this.saving.catch(() => undefined);
  }

  private async write(chunk: Uint8Array): Promise<void> {
    if (this.stream.write(chunk)) {
      return;
    }
    // The upload writer reads its source to the end even past the size limit, so 'drain'
    // comes unless it failed before reading, which `savingStopped` reports.
    await Promise.race([once(this.stream, 'drain'), this.savingStopped]);
  }
}
