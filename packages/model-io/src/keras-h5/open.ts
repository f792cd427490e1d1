// Opens an uploaded Keras HDF5 file for reading and turns every failure of the HDF5
// library into MODEL_INVALID, because a damaged upload must end the job with a
// readable error, never with a crash or an HDF5 error stack.
import { CentroidError, isCentroidError } from '@centroid/contracts';

import { assertHdf5File } from '../file-signature.js';
import { describeH5Error, withH5FileCopy } from '../hdf5/h5wasm.js';

import type { H5File } from '../hdf5/h5wasm.js';

/** Checks the HDF5 signature, opens a copy of the file and passes it to `read`. */
export async function withKerasH5File<T>(path: string, filename: string, read: (file: H5File) => T): Promise<T> {
  await assertHdf5File(path, filename);
  try {
    return await withH5FileCopy(path, read);
  } catch (error) {
    if (isCentroidError(error)) {
      throw error;
    }
    throw new CentroidError('MODEL_INVALID', describeUnreadableFile(filename, error), { file: filename }, { cause: error });
  }
}

function describeUnreadableFile(filename: string, error: unknown): string {
  const reason = describeH5Error(error);
  const truncation = /truncated file: eof = (\d+).*stored_eof = (\d+)/.exec(reason);
  if (truncation !== null) {
    return (
      `${filename} is truncated: it has ${truncation[1]} bytes, but its HDF5 superblock declares ${truncation[2]}. ` +
      'The file was cut short: send or copy it again in full.'
    );
  }
  return `${filename} has an HDF5 signature but could not be read as HDF5 (${reason}). The file may be damaged.`;
}
