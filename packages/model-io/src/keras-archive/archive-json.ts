// Parses the JSON members of model archives (`config.json`, `metadata.json`, TF.js
// `model.json`) with a size cap, because a huge JSON text would exhaust memory long
// before the parser finished.
import { CentroidError } from '@centroid/contracts';

import { jsonNestingDepth, MAX_JSON_DEPTH } from '../json-depth.js';

import type { ModelArchive } from '../archive/model-archive.js';
import type { ZipEntry } from '../zip.js';

/** Largest JSON member parsed: 64 MiB, far above the few megabytes of the largest known model configs (an estimate). */
export const MAX_JSON_MEMBER_BYTES = 64 * 1024 * 1024;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Raises MODEL_INVALID when a JSON member of a model archive declares more than
 * MAX_JSON_MEMBER_BYTES in the central directory, so that it is rejected before any of it
 * is inflated.
 */
export function checkJsonMemberSize(entry: ZipEntry, filename: string): void {
  if (entry.uncompressedSize > MAX_JSON_MEMBER_BYTES) {
    throw new CentroidError(
      'MODEL_INVALID',
      `${filename}: ${entry.name} declares ${entry.uncompressedSize} bytes uncompressed, more than the limit of ${MAX_JSON_MEMBER_BYTES} bytes for a JSON member.`,
      { file: filename },
    );
  }
}

/**
 * Reads and parses a JSON member of a model archive. The member's declared size is checked
 * first, and `archive.read` stops a member that inflates past its declared size, so a
 * compression bomb is inflated to at most the limit and one read step.
 */
export async function readJsonMember(archive: ModelArchive, entry: ZipEntry, filename: string): Promise<Record<string, unknown>> {
  checkJsonMemberSize(entry, filename);
  return parseJsonObject(await archive.read(entry), filename, entry.name);
}

/** Parses a JSON object of at most MAX_JSON_MEMBER_BYTES; raises MODEL_INVALID naming the file and member otherwise. */
export function parseJsonObject(bytes: Uint8Array, filename: string, member: string): Record<string, unknown> {
  if (bytes.byteLength > MAX_JSON_MEMBER_BYTES) {
    throw new CentroidError(
      'MODEL_INVALID',
      `${filename}: ${member} has ${bytes.byteLength} bytes, more than the limit of ${MAX_JSON_MEMBER_BYTES} bytes for a JSON member.`,
      { file: filename },
    );
  }
  let parsed: unknown;
  let tooDeep = false;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    tooDeep = jsonNestingDepth(text) > MAX_JSON_DEPTH;
    parsed = tooDeep ? null : JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CentroidError('MODEL_INVALID', `${filename}: ${member} is not valid UTF-8 JSON (${reason}).`, { file: filename }, { cause: error });
  }
  if (tooDeep) {
    throw new CentroidError(
      'MODEL_INVALID',
      `${filename}: ${member} nests JSON arrays and objects more than ${MAX_JSON_DEPTH} levels deep; expected a model config, which nests far less.`,
      { file: filename },
    );
  }
  if (!isPlainObject(parsed)) {
    throw new CentroidError('MODEL_INVALID', `${filename}: ${member} should be a JSON object, found ${JSON.stringify(parsed)?.slice(0, 80)}.`, {
      file: filename,
    });
  }
  return parsed;
}
