// Measures artifact sizes the way users compare them: raw bytes and gzip at level 9.
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createGzip } from 'node:zlib';

/** Size of a file on disk and of its gzip compression. */
export interface FileSize {
  /** Bytes on disk. */
  bytes: number;
  /** Bytes of the file gzip-compressed at level 9 (the `gzip -9` setting). */
  gzipBytes: number;
}

function createMaxGzip() {
  return createGzip({ level: constants.Z_BEST_COMPRESSION });
}

/** Measures a file and its gzip size, streaming it so that memory use stays constant. */
export async function measureFile(path: string): Promise<FileSize> {
  const { size } = await stat(path);
  let gzipBytes = 0;
  const counter = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      gzipBytes += chunk.length;
      callback();
    },
  });
  await pipeline(createReadStream(path), createMaxGzip(), counter);
  return { bytes: size, gzipBytes };
}

/**
 * Writes the gzip compression (level 9) of `source` to `destination`, streaming. The
 * destination appears only once complete.
 */
export async function gzipFile(source: string, destination: string): Promise<void> {
  const temporaryPath = join(dirname(destination), `.${basename(destination)}.${randomUUID()}.partial`);
  try {
    await pipeline(createReadStream(source), createMaxGzip(), createWriteStream(temporaryPath));
    await rename(temporaryPath, destination);
  } catch (error) {
    await rm(temporaryPath, { force: true });
    throw error;
  }
}
