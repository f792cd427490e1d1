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

/** File name of the NPZ packed from `.npy` parts, which names the dataset in errors and in `inputs.dataset`. */
export const PACKED_DATASET_FILENAME = 'dataset.npz';

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
  private readonly maxBytes: number;

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

    try {
      await this.writer.addNpy(arrayName, source, filename);
    } catch (error) {
      if (error instanceof CentroidError && error.location.field === undefined) {
        throw new CentroidError(error.code, error.message, { ...error.location, field: part }, { cause: error });
      }
      throw error;
    }
  }

  /**
   * Checks that the parts form a dataset for the job, ends the archive and returns the stored
   * NPZ. The test pair is always needed, and the training pair when `fine_tune.epochs` is
   * above 0. Raises UPLOAD_MISSING naming the first missing part, and UPLOAD_TOO_LARGE when
   * the archive is larger than `maxBytes`.
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
      return await this.saving;
    } catch (error) {
      if (error instanceof CentroidError && error.code === 'UPLOAD_TOO_LARGE') {
        throw new CentroidError(
          'UPLOAD_TOO_LARGE',
          `The .npy parts ${this.parts.join(', ')} together are larger than the dataset limit of ${this.maxBytes} bytes.`,
          { field: this.parts.at(-1) as string },
          { cause: error },
        );
      }
      throw error;
    }
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
    if (this.stream.write(chunk)) {
      return;
    }
    // The upload writer reads its source to the end even past the size limit, so 'drain'
    // comes unless it failed before reading, which `savingStopped` reports.
    await Promise.race([once(this.stream, 'drain'), this.savingStopped]);
  }
}
