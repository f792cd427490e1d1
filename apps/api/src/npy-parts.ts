// A dataset sent as separate `.npy` parts (`x_train`, `y_train`, `x_test`, `y_test`) instead
// of one NPZ. The parts are packed, as they stream in, into one NPZ of stored members, so the
// job still has a single dataset file and the worker reads it as any other NPZ.
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { CentroidError, type JobParams } from '@centroid/contracts';
import type { ArtifactStore, StoredUpload } from '@centroid/jobs';
import { NpzWriter } from '@centroid/model-io';

export const NPY_PART_NAMES = ['x_train', 'y_train', 'x_test', 'y_test'] as const;
export type NpyPartName = (typeof NPY_PART_NAMES)[number];

/**
 * File name of the stored NPZ packed from `.npy` parts. Errors and `inputs.dataset` name the
 * dataset by the parts instead (see `describeNpyParts`), because the client never sent this file.
 */
export const PACKED_DATASET_FILENAME = 'dataset.npz';

/**
 * Returns the name that stands for a dataset sent as `.npy` parts, in errors and in the
 * job's `inputs.dataset.filename`: the parts with the client's file names, such as
 * `.npy parts x_test (x.npy), y_test (y.npy)`.
 */
export function describeNpyParts(files: ReadonlyMap<NpyPartName, string>): string {
  const parts = NPY_PART_NAMES.filter((part) => files.has(part)).map((part) => describePart(part, files.get(part)!));
  return `.npy parts ${parts.join(', ')}`;
}

function describePart(part: NpyPartName, filename: string): string {
  return filename === '' ? part : `${part} (${filename})`;
}

export function isNpyPartName(name: string): name is NpyPartName {
  return (NPY_PART_NAMES as readonly string[]).includes(name);
}

export interface NpyPartsOptions {
  artifacts: ArtifactStore;
  jobId: string;
  /** Maximum size in bytes of the packed NPZ, which is the parts plus about 100 bytes each. */
  maxBytes: number;
}

/** Collector of `.npy` parts into one stored NPZ upload. Call `add` per part, then `finish` or `discard`. */
export class NpyPartsPacker {
  private readonly stream = new PassThrough();
  private readonly saving: Promise<StoredUpload>;
  /** Rejects once the upload writer has settled, which must not happen while the archive is still being written. */
  private readonly savingStopped: Promise<never>;
  private readonly writer: NpzWriter;
  /** Array name of each part added so far, by part name. */
  private readonly arrayNames = new Map<NpyPartName, string>();
  /** The client's file name of each part added so far, by part name. */
  private readonly filenames = new Map<NpyPartName, string>();
  private readonly maxBytes: number;
  /** Bytes of the packed NPZ written so far. */
  private bytesWritten = 0;
  /** The part being written, or null between parts and for the archive's trailer. */
  private currentPart: NpyPartName | null = null;
  /** The part during which the packed NPZ grew past `maxBytes`, or null while it has not. */
  private partOverLimit: NpyPartName | null = null;

  constructor({ artifacts, jobId, maxBytes }: NpyPartsOptions) {
    this.maxBytes = maxBytes;
    this.saving = artifacts.saveUpload({ jobId, field: 'dataset', filename: PACKED_DATASET_FILENAME, source: this.stream, maxBytes });
    // `finish` and `discard` read the outcome. This handler keeps an early failure from being unhandled.
    this.saving.catch(() => undefined);
    this.savingStopped = this.saving.then(
      () => Promise.reject(new Error('The dataset upload writer stopped before the packed NPZ ended.')),
      (error: unknown) => Promise.reject(error),
    );
    this.savingStopped.catch(() => undefined);
    this.writer = new NpzWriter((chunk) => this.write(chunk));
  }

  /** Names of the parts added so far. */
  get parts(): NpyPartName[] {
    return [...this.arrayNames.keys()];
  }

  /**
   * Streams the `.npy` part `part` into the archive as the array that `params.dataset[part]`
   * names. Raises REQUEST_INVALID for a repeated part, PARAMS_INVALID when two parts would
   * share an array name, and DATASET_INVALID (field: the part) for data that is not a valid
   * `.npy` file.
   */
  async add(part: NpyPartName, source: AsyncIterable<Uint8Array>, filename: string, params: JobParams): Promise<void> {
    if (this.arrayNames.has(part)) {
      throw new CentroidError('REQUEST_INVALID', `Part '${part}' appears more than once. Send it once.`, { field: part });
    }
    const arrayName = params.dataset[part];
    const sharing = [...this.arrayNames].find(([, name]) => name === arrayName);
    if (sharing !== undefined) {
      throw new CentroidError(
        'PARAMS_INVALID',
        `dataset.${part} and dataset.${sharing[0]} both name the array '${arrayName}'; each .npy part needs its own array name.`,
        { field: `dataset.${part}` },
      );
    }
    this.arrayNames.set(part, arrayName);
    this.filenames.set(part, filename);

    this.currentPart = part;
    try {
      await this.writer.addNpy(arrayName, source, filename);
    } catch (error) {
      // A part cut off at the request's file size limit reads as a truncated .npy file, so
      // name the size as the problem.
      if (this.partOverLimit === part) throw this.tooLarge(part, error);
      if (error instanceof CentroidError && error.location.field === undefined) {
        throw new CentroidError(error.code, error.message, { ...error.location, field: part }, { cause: error });
      }
      throw error;
    } finally {
      this.currentPart = null;
    }
  }

  /**
   * Checks that the parts form a dataset for the job, ends the archive and returns the stored
   * NPZ, with `describeNpyParts` as its file name. The test pair is always needed, and the
   * training pair when `fine_tune.epochs` is above 0. Raises UPLOAD_MISSING naming the first
   * missing part, and UPLOAD_TOO_LARGE naming the part that took the archive past `maxBytes`.
   */
  async finish(params: JobParams): Promise<StoredUpload> {
    const missing = this.missingPart(params);
    if (missing !== null) {
      await this.discard();
      throw new CentroidError(
        'UPLOAD_MISSING',
        `Missing multipart part '${missing}': a dataset sent as .npy parts needs x_test and y_test, and x_train and y_train ` +
          `when fine_tune.epochs is above 0 (it is ${params.fine_tune.epochs}). Send it, or send one NPZ as the part 'dataset' instead.`,
        { field: missing },
      );
    }

    await this.writer.finish();
    this.stream.end();
    try {
      const stored = await this.saving;
      return { ...stored, filename: describeNpyParts(this.filenames) };
    } catch (error) {
      if (error instanceof CentroidError && error.code === 'UPLOAD_TOO_LARGE') {
        // Past the limit the upload writer still reads to the end, so the error comes only
        // now, and `partOverLimit` records where the limit was passed.
        throw this.tooLarge(this.partOverLimit ?? (this.parts.at(-1) as NpyPartName), error);
      }
      throw error;
    }
  }

  private tooLarge(part: NpyPartName, cause: unknown): CentroidError {
    return new CentroidError(
      'UPLOAD_TOO_LARGE',
      `The ${describeNpyParts(this.filenames)} together are larger than the dataset limit of ${this.maxBytes} bytes; ` +
        `the limit was passed in part ${describePart(part, this.filenames.get(part) ?? '')}. Send fewer samples.`,
      { field: part },
      { cause },
    );
  }

  /** Ends the archive unfinished and waits until the partial file is closed, so that the caller can remove it. */
  async discard(): Promise<void> {
    this.stream.end();
    await this.saving.catch(() => undefined);
  }

  private missingPart(params: JobParams): NpyPartName | null {
    const needed = new Set<NpyPartName>(['x_test', 'y_test']);
    if (params.fine_tune.epochs > 0 || this.arrayNames.has('x_train') || this.arrayNames.has('y_train')) {
      needed.add('x_train');
      needed.add('y_train');
    }
    return NPY_PART_NAMES.find((part) => needed.has(part) && !this.arrayNames.has(part)) ?? null;
  }

  private async write(chunk: Uint8Array): Promise<void> {
    this.bytesWritten += chunk.byteLength;
    if (this.bytesWritten > this.maxBytes && this.partOverLimit === null) this.partOverLimit = this.currentPart;
    if (this.stream.write(chunk)) {
      return;
    }
    // The upload writer reads its source to the end even past the size limit, so 'drain'
    // comes unless it failed before reading, which `savingStopped` reports.
    await Promise.race([once(this.stream, 'drain'), this.savingStopped]);
  }
}
