// Runs h5wasm on an in-memory file system that holds only the file being read or
// written. Uploaded HDF5 files are untrusted: external links, external raw-data
// storage and virtual datasets can name other files, and the Node build of h5wasm
// would open them on the host. Here such a name resolves to nothing.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import h5wasm from 'h5wasm';

import type { File as H5File } from 'h5wasm';

export type { Attribute, Dataset, Entity, File as H5File, Group, Metadata } from 'h5wasm';
export type H5Module = Awaited<typeof h5wasm.ready>;

/** Folder of the in-memory file system that contains the copies of open files. */
const MEMFS_FOLDER = '/centroid';

let modulePromise: Promise<H5Module> | null = null;
let loadedModule: H5Module | null = null;

/** Returns the h5wasm module, initialising it and its throwing error handler on the first call. */
export function loadH5wasm(): Promise<H5Module> {
  if (modulePromise === null) {
    modulePromise = h5wasm.ready.then((module) => {
      // With this handler, the HDF5 C library raises an Error carrying its error stack
      // instead of printing the stack to stderr and returning a negative id.
      module.activate_throwing_error_handler();
      module.FS.mkdirTree(MEMFS_FOLDER);
      loadedModule = module;
      return module;
    });
  }
  return modulePromise;
}

/** Returns the h5wasm module after `loadH5wasm` has resolved. */
export function loadedH5wasm(): H5Module {
  if (loadedModule === null) {
    throw new Error('h5wasm is not loaded yet: await loadH5wasm() first');
  }
  return loadedModule;
}

/** Returns a fresh path in the in-memory file system. */
export function createMemfsPath(): string {
  return `${MEMFS_FOLDER}/${randomUUID()}.h5`;
}

/** Copies a host file into the in-memory file system and returns its path there. */
export async function copyIntoMemfs(hostPath: string): Promise<string> {
  const bytes = await readFile(hostPath);
  const module = await loadH5wasm();
  const memfsPath = createMemfsPath();
  module.FS.writeFile(memfsPath, bytes);
  return memfsPath;
}

/** Writes bytes to a fresh file of the in-memory file system and returns its path there. */
export async function writeIntoMemfs(bytes: Uint8Array): Promise<string> {
  const module = await loadH5wasm();
  const memfsPath = createMemfsPath();
  module.FS.writeFile(memfsPath, bytes);
  return memfsPath;
}

/** Returns the contents of a file in the in-memory file system. */
export function readMemfsFile(memfsPath: string): Uint8Array {
  return loadedH5wasm().FS.readFile(memfsPath);
}

/** Deletes a file from the in-memory file system; a missing file is not an error. */
export function removeMemfsFile(memfsPath: string): void {
  const { FS } = loadedH5wasm();
  if (FS.analyzePath(memfsPath).exists) {
    FS.unlink(memfsPath);
  }
}

/** Opens a file of the in-memory file system with h5wasm. */
export function openH5File(memfsPath: string, mode: 'r' | 'a' | 'w'): H5File {
  loadedH5wasm();
  return new h5wasm.File(memfsPath, mode);
}

/** Closes an h5wasm file and ignores a failure, so that the error that ended the work is the one reported. */
export function closeQuietly(file: H5File | null): void {
  try {
    file?.close();
  } catch {
    // A file that failed to read may also fail to close, and the earlier error explains the failure.
  }
}

/**
 * Copies a host file into memory, opens it read-only and passes it to `read`. The copy
 * is deleted afterwards, whether `read` succeeds or throws.
 */
export async function withH5FileCopy<T>(hostPath: string, read: (file: H5File) => T | Promise<T>): Promise<T> {
  const memfsPath = await copyIntoMemfs(hostPath);
  let file: H5File | null = null;
  try {
    file = openH5File(memfsPath, 'r');
    return await read(file);
  } finally {
    closeQuietly(file);
    removeMemfsFile(memfsPath);
  }
}

/**
 * Extracts the most specific reason from an h5wasm error. The HDF5 error stack lists
 * frames from the API call down to the failing check, so the last frame is the cause,
 * such as "truncated file: eof = 10000, sblock->base_addr = 0, stored_eof = 26200".
 */
export function describeH5Error(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const frames = [...text.matchAll(/#\d+: .*? in [\w.]+\(\): (.*)$/gm)];
  const lastFrame = frames.at(-1);
  if (lastFrame?.[1] !== undefined) {
    return lastFrame[1].trim();
  }
  return text.split('\n')[0]?.trim() || 'unknown HDF5 error';
}
