// Builds multipart/form-data bodies by hand, so tests control the order of parts and can
// send malformed requests that a FormData encoder would not produce.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { encodeNpz, fixturePath } from '@centroid/examples';

export interface PartSpec {
  name: string;
  /** Present for file parts. */
  filename?: string;
  contentType?: string;
  content: string | Buffer;
}

export function buildMultipart(parts: PartSpec[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----centroid-test-${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];

  for (const part of parts) {
    const disposition =
      part.filename === undefined
        ? `form-data; name="${part.name}"`
        : `form-data; name="${part.name}"; filename="${part.filename}"`;
    const contentType = part.contentType ?? (part.filename === undefined ? undefined : 'application/octet-stream');
    const head = [`--${boundary}`, `Content-Disposition: ${disposition}`, ...(contentType === undefined ? [] : [`Content-Type: ${contentType}`])];

    chunks.push(Buffer.from(`${head.join('\r\n')}\r\n\r\n`));
    chunks.push(typeof part.content === 'string' ? Buffer.from(part.content) : part.content);
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));

  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** Returns a real Keras 2 model (a small Dense network, 28 KB) that passes the upload check. */
export function kerasModel(): Buffer {
  return readFileSync(fixturePath('dense-mlp.h5'));
}

/** Returns a real NPZ dataset (26 KB) that fits the tiny CNN fixture. */
export function datasetFixture(): Buffer {
  return readFileSync(fixturePath('tiny-cnn.npz'));
}

/** Builds an NPZ of zero float32 arrays with the given sample counts, 8 values per sample. */
export function smallNpz(samples: Record<string, number>): Buffer {
  const arrays = Object.fromEntries(
    Object.entries(samples).map(([name, count]) => [name, { dtype: '<f4' as const, shape: [count, 8], data: new Float32Array(count * 8) }]),
  );
  return Buffer.from(encodeNpz(arrays));
}

/** Bytes with the HDF5 signature followed by `size - 8` bytes of padding: not a readable HDF5 file. */
export function fakeHdf5(size = 64): Buffer {
  const content = Buffer.alloc(size, 0);
  Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]).copy(content);
  return content;
}
