// The check an uploaded model passes before its job is queued, so that an obviously wrong
// file is rejected at once instead of becoming a failed job.
import { open } from 'node:fs/promises';
import { CentroidError } from '@centroid/contracts';

/** Raises MODEL_FORMAT_UNSUPPORTED or MODEL_INVALID when the file at `path` is not a usable model. */
export type ModelInspector = (path: string, filename: string) => Promise<unknown>;

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

// HDF5 allows a user block before the superblock, so the signature may sit at offset 0, 512,
// 1024, 2048 or any further power of two.
const SIGNATURE_OFFSETS = [0, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];

/**
 * Checks that the file carries the HDF5 signature, the only test possible without a model
 * reader. Raises MODEL_FORMAT_UNSUPPORTED for any other file.
 */
export async function checkHdf5Signature(path: string, filename: string): Promise<void> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    if (size === 0) throw new CentroidError('MODEL_INVALID', `Model file '${filename}' is empty.`, { file: filename, field: 'model' });

    const header = Buffer.alloc(HDF5_SIGNATURE.length);
    for (const offset of SIGNATURE_OFFSETS) {
      if (offset + header.length > size) break;
      await file.read(header, 0, header.length, offset);
      if (header.equals(HDF5_SIGNATURE)) return;
    }
  } finally {
    await file.close();
  }

  throw new CentroidError(
    'MODEL_FORMAT_UNSUPPORTED',
    `Model file '${filename}' is not an HDF5 file: the HDF5 signature is missing. Upload a Keras model saved as .h5.`,
    { file: filename, field: 'model' },
  );
}

// TODO: switch to inspectModelFile from @centroid/model-io once that package exports it. It
// also reads .keras archives and TF.js models, which this signature check rejects.
export const inspectUploadedModel: ModelInspector = checkHdf5Signature;
