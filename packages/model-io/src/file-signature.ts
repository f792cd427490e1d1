// Identifies an uploaded file by its first bytes, so that a wrong upload is rejected
// with a message that names what the file looks like instead of an HDF5 library error.
import { open } from 'node:fs/promises';

import { CentroidError } from '@centroid/contracts';

/** The 8-byte HDF5 format signature, `\x89HDF\r\n\x1a\n`. */
export const HDF5_SIGNATURE = Uint8Array.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Number of leading bytes that `describeFileStart` looks at. */
const SNIFF_BYTES = 512;

/** The first HDF5 superblock offset after 0; later ones double, because a user block is 512·2^k bytes. */
const FIRST_USERBLOCK_OFFSET = 512;

/**
 * Returns the offset of the HDF5 superblock signature, or null when the file has none.
 * The HDF5 format allows a user block before the superblock, so the signature may
 * sit at 0, 512, 1024, 2048 and so on.
 */
export async function findHdf5Signature(path: string): Promise<number | null> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const buffer = Buffer.alloc(HDF5_SIGNATURE.length);

    for (let offset = 0; offset + HDF5_SIGNATURE.length <= size; offset = offset === 0 ? FIRST_USERBLOCK_OFFSET : offset * 2) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      if (bytesRead === buffer.length && buffer.equals(HDF5_SIGNATURE)) {
        return offset;
      }
    }
    return null;
  } finally {
    await handle.close();
  }
}

/** Reads up to the first 512 bytes of a file. */
export async function readFileStart(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, SNIFF_BYTES, 0);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Formats bytes as space-separated hex pairs, such as `50 4b 03 04`. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join(' ');
}

function startsWith(bytes: Uint8Array, prefix: readonly number[], at = 0): boolean {
  return prefix.every((byte, index) => bytes[at + index] === byte);
}

function ascii(text: string): number[] {
  return Array.from(text, (character) => character.charCodeAt(0));
}

/**
 * Names the format that a file's first bytes suggest, as a phrase that completes
 * "it looks like …", or returns null when the bytes match no format known here.
 */
export function guessFormat(bytes: Uint8Array): string | null {
  if (startsWith(bytes, ascii('PK\x03\x04')) || startsWith(bytes, ascii('PK\x05\x06'))) {
    return 'a zip archive, such as a Keras 3 .keras file or a NumPy .npz';
  }
  if (startsWith(bytes, [0x93, ...ascii('NUMPY')])) {
    return 'a NumPy .npy array';
  }
  if (startsWith(bytes, [0x1f, 0x8b])) {
    return 'a gzip-compressed file; decompress it before uploading';
  }
  if (startsWith(bytes, ascii('TFL3'), 4)) {
    return 'a TensorFlow Lite flatbuffer';
  }
  if (startsWith(bytes, ascii('ustar'), 257)) {
    return 'a tar archive';
  }

  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes).trimStart();
  if (text.startsWith('{') || text.startsWith('[')) {
    return 'a JSON file, such as a TF.js model.json';
  }
  if (bytes.length > 0 && bytes.every((byte) => byte === 0x09 || byte === 0x0a || byte === 0x0d || (byte >= 0x20 && byte < 0x7f))) {
    return 'a text file';
  }
  return null;
}

/**
 * Raises unless the file starts with an HDF5 superblock signature, at offset 0 or after
 * a user block. An empty file is MODEL_INVALID. Any other file is
 * MODEL_FORMAT_UNSUPPORTED, and the message names what its first bytes look like.
 */
export async function assertHdf5File(path: string, filename: string): Promise<void> {
  if ((await findHdf5Signature(path)) !== null) {
    return;
  }

  const start = await readFileStart(path);
  if (start.length === 0) {
    throw new CentroidError('MODEL_INVALID', `${filename} is empty (0 bytes); expected a Keras HDF5 model file.`, {
      file: filename,
    });
  }

  const guess = guessFormat(start);
  const found = toHex(start.subarray(0, HDF5_SIGNATURE.length));
  const looksLike = guess === null ? '' : ` It looks like ${guess}.`;
  throw new CentroidError(
    'MODEL_FORMAT_UNSUPPORTED',
    `${filename} is not an HDF5 file: expected the signature ${toHex(HDF5_SIGNATURE)}, found ${found}.${looksLike} ` +
      `Upload a Keras model saved with model.save("model.h5").`,
    { file: filename },
  );
}
