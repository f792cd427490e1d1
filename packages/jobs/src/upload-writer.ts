// Streams an upload to disk, computing its sha256 and enforcing a size limit as bytes arrive,
// so an oversized upload is never stored whole.
import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { CentroidError } from '@centroid/contracts';

export interface WrittenFile {
  bytes: number;
  /** Lower-case hex SHA-256 of the content. */
  sha256: string;
}

export interface UploadLimit {
  maxBytes: number;
  /** Form field the upload came from, named in the error. */
  field: string;
  /** Name the client gave the file, named in the error. */
  filename: string;
}

/**
 * Writes `source` to `destination`, which must not exist yet, and syncs it to disk. When the
 * content exceeds the limit or a write fails, writing stops and the rest of `source` is read
 * and discarded, so a multipart parser can move on to the next part. Then the partial file is
 * removed and UPLOAD_TOO_LARGE or the write error is raised.
 */
export async function writeUpload(source: AsyncIterable<Uint8Array>, destination: string, limit: UploadLimit): Promise<WrittenFile> {
  const hash = createHash('sha256');
  const file = await open(destination, 'wx');
  let bytes = 0;
  let exceeded = false;
  let writeError: unknown = null;

  try {
    for await (const chunk of source) {
      if (exceeded || writeError !== null) continue;

      bytes += chunk.byteLength;
      if (bytes > limit.maxBytes) {
        exceeded = true;
        continue;
      }

      hash.update(chunk);
      // Raising inside the loop would destroy the source, which stalls a multipart parser.
      await file.write(chunk).catch((error: unknown) => {
        writeError = error;
      });
    }
    if (!exceeded && writeError === null) await file.sync();
  } catch (error) {
    await file.close();
    await rm(destination, { force: true });
    throw error;
  }

  await file.close();

  if (writeError !== null || exceeded) await rm(destination, { force: true });
  if (writeError !== null) throw writeError;
  if (exceeded) {
    throw new CentroidError(
      'UPLOAD_TOO_LARGE',
      `Upload '${limit.filename}' in field '${limit.field}' is larger than the limit of ${limit.maxBytes} bytes.`,
      { field: limit.field, file: limit.filename },
    );
  }
  return { bytes, sha256: hash.digest('hex') };
}
