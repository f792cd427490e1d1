// Access to the files of a TF.js layers model, wherever they are: `model.json` and its
// shards in a folder on disk, or as members of a zip archive.
import { open, readdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';

import { CentroidError } from '@centroid/contracts';

import { withModelArchive } from '../archive/model-archive.js';
import { MAX_JSON_MEMBER_BYTES } from '../keras-archive/archive-json.js';

import type { ArchiveLimits } from '../archive/model-archive.js';

export const TFJS_ARCHIVE_KIND = 'zipped TF.js layers model';
export const MODEL_JSON = 'model.json';

/** The files of one TF.js model. Shard paths are relative to `model.json`. */
export interface TfjsContainer {
  kind: 'folder' | 'zip';
  /** Path of `model.json` relative to the folder, or its member name in the zip. */
  modelJsonPath: string;
  readModelJson: () => Promise<Uint8Array>;
  /** Returns a shard's size in bytes, or null when it is missing. */
  shardSize: (path: string) => Promise<number | null>;
  /**
   * Lists the files in model.json's folder, relative to it, model.json included: every
   * member below that folder in a zip, and the files directly in it on disk.
   */
  listFiles: () => Promise<string[]>;
  readShard: (path: string) => Promise<Uint8Array>;
}

/** Returns the shards at `paths` joined in order, the bytes of one weight group, with each shard's length. */
export async function readGroupBytes(container: TfjsContainer, paths: readonly string[]): Promise<{ bytes: Buffer; shardLengths: number[] }> {
  const shards: Uint8Array[] = [];
  for (const shard of paths) {
    shards.push(await container.readShard(shard));
  }
  return { bytes: Buffer.concat(shards), shardLengths: shards.map((shard) => shard.byteLength) };
}

function missing(filename: string, what: string): CentroidError {
  return new CentroidError('MODEL_INVALID', `${filename}: ${what}`, { file: filename });
}

async function readCapped(path: string, maxBytes: number, filename: string, member: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) {
      throw new CentroidError('MODEL_INVALID', `${filename}: ${member} has ${size} bytes, more than the limit of ${maxBytes} bytes.`, {
        file: filename,
      });
    }
    const buffer = Buffer.alloc(size);
    await handle.read(buffer, 0, size, 0);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, size);
  } finally {
    await handle.close();
  }
}

/**
 * Opens the TF.js model in `folder`, whose `model.json` is `modelJsonName`, and passes it
 * to `work`.
 */
export async function withTfjsFolder<T>(
  folder: string,
  modelJsonName: string,
  filename: string,
  work: (container: TfjsContainer) => Promise<T>,
): Promise<T> {
  const sizeOf = async (path: string) => {
    try {
      const info = await stat(join(folder, path));
      return info.isFile() ? info.size : null;
    } catch {
      return null;
    }
  };
  if ((await sizeOf(modelJsonName)) === null) {
    throw missing(filename, `the folder has no ${modelJsonName}; expected a TF.js layers model.`);
  }
  return work({
    kind: 'folder',
    modelJsonPath: modelJsonName,
    readModelJson: () => readCapped(join(folder, modelJsonName), MAX_JSON_MEMBER_BYTES, filename, modelJsonName),
    shardSize: sizeOf,
    listFiles: async () => {
      const entries = await readdir(join(folder, posix.dirname(modelJsonName)), { withFileTypes: true });
      const prefix = posix.dirname(modelJsonName);
      return entries.filter((entry) => entry.isFile()).map((entry) => (prefix === '.' ? entry.name : posix.join(prefix, entry.name)));
    },
    readShard: async (path) => readCapped(join(folder, path), Number.MAX_SAFE_INTEGER, filename, path),
  });
}

/**
 * Opens a zip that contains one `model.json` and its shards, at the root or in one folder,
 * and passes it to `work`. Raises MODEL_INVALID when the zip has no `model.json` or
 * more than one.
 */
export async function withTfjsZip<T>(
  path: string,
  filename: string,
  limits: ArchiveLimits,
  work: (container: TfjsContainer) => Promise<T>,
): Promise<T> {
  return withModelArchive(path, filename, TFJS_ARCHIVE_KIND, limits, async (archive) => {
    const candidates = archive.entries.filter((entry) => posix.basename(entry.name) === MODEL_JSON);
    if (candidates.length !== 1) {
      const found = archive.entries.map((entry) => `"${entry.name}"`).join(', ') || 'no members';
      throw missing(
        filename,
        `expected a zip with exactly one ${MODEL_JSON} and its weight shards, found ${candidates.length === 0 ? found : `${candidates.length} ${MODEL_JSON} members`}.`,
      );
    }
    const modelJsonEntry = candidates[0] as (typeof candidates)[number];
    const folder = posix.dirname(modelJsonEntry.name);
    const memberName = (shard: string) => (folder === '.' ? posix.normalize(shard) : posix.join(folder, shard));

    return work({
      kind: 'zip',
      modelJsonPath: modelJsonEntry.name,
      readModelJson: async () => {
        if (modelJsonEntry.uncompressedSize > MAX_JSON_MEMBER_BYTES) {
          throw missing(
            filename,
            `${modelJsonEntry.name} has ${modelJsonEntry.uncompressedSize} bytes, more than the limit of ${MAX_JSON_MEMBER_BYTES} bytes for a JSON member.`,
          );
        }
        return archive.read(modelJsonEntry);
      },
      shardSize: async (shard) => archive.find(memberName(shard))?.uncompressedSize ?? null,
      listFiles: async () =>
        archive.entries
          .map((entry) => entry.name)
          .filter((name) => !name.endsWith('/') && (folder === '.' || name.startsWith(`${folder}/`)))
          .map((name) => (folder === '.' ? name : name.slice(folder.length + 1))),
      readShard: async (shard) => {
        const entry = archive.find(memberName(shard));
        if (entry === undefined) {
          throw missing(filename, `the weight shard "${shard}" is missing from the archive.`);
        }
        return archive.read(entry);
      },
    });
  });
}
