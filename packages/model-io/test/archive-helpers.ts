// Builds zip archives for the archive tests, including damaged and hostile ones, and
// reads members back.
import { readFile, writeFile } from 'node:fs/promises';

import { unzipSync, zipSync } from 'fflate';

/** Writes a zip of the given members, each stored (level 0) unless `deflate` is set. */
export async function writeTestZip(path: string, members: Record<string, Uint8Array | string>, deflate = false): Promise<void> {
  const files: Record<string, [Uint8Array, { level: 0 | 6 }]> = {};
  for (const [name, content] of Object.entries(members)) {
    files[name] = [typeof content === 'string' ? new TextEncoder().encode(content) : content, { level: deflate ? 6 : 0 }];
  }
  await writeFile(path, zipSync(files));
}

/** Reads every member of a zip into memory. */
export async function readTestZip(path: string): Promise<Record<string, Uint8Array>> {
  return unzipSync(new Uint8Array(await readFile(path)));
}

/** Returns the compression method (0 stored, 8 deflated) of each member, from the central directory. */
export async function zipMethods(path: string): Promise<Map<string, number>> {
  const bytes = await readFile(path);
  const methods = new Map<string, number>();
  for (let offset = 0; offset + 46 <= bytes.length; offset++) {
    if (bytes.readUInt32LE(offset) !== 0x02014b50) {
      continue;
    }
    const nameLength = bytes.readUInt16LE(offset + 28);
    methods.set(bytes.subarray(offset + 46, offset + 46 + nameLength).toString('utf8'), bytes.readUInt16LE(offset + 10));
  }
  return methods;
}

/**
 * Rewrites the uncompressed size that the central directory declares for `member`, so
 * that the archive lies about it. Returns the patched archive bytes.
 */
export function patchDeclaredSize(archive: Uint8Array, member: string, size: number): Uint8Array {
  const bytes = Buffer.from(archive);
  for (let offset = 0; offset + 46 <= bytes.length; offset++) {
    if (bytes.readUInt32LE(offset) !== 0x02014b50) {
      continue;
    }
    const nameLength = bytes.readUInt16LE(offset + 28);
    if (bytes.subarray(offset + 46, offset + 46 + nameLength).toString('utf8') === member) {
      bytes.writeUInt32LE(size, offset + 24);
      return new Uint8Array(bytes);
    }
  }
  throw new Error(`member ${member} not found in the central directory`);
}
