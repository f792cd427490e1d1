// A child entry for the fuzz test: it feeds file after file to the loaders in this one
// process, so that TF.js and h5wasm load once, and reports each outcome. The parent kills
// it when a file takes too long, and starts a new one for the files that remain.
import { CentroidError } from '@centroid/contracts';
import * as tf from '@tensorflow/tfjs';

import { readNpy, readNpz, readNpzArrayNames, readTfjsModel, toLayersModel } from '../src/index.js';
import { readKerasArchiveInProcess } from '../src/keras-archive/read.js';
import { inspectKerasH5InProcess } from '../src/keras-h5/inspect.js';
import { readKerasH5InProcess } from '../src/keras-h5/read.js';
import { translateModelConfig, unsupportedLayersError } from '../src/keras-h5/tfjs-config.js';

/** The loaders the fuzz test runs, by name. */
export type FuzzLoader = 'readKerasH5' | 'inspectModelFile' | 'readKerasArchive' | 'readTfjsModel' | 'readNpz' | 'readNpzArrayNames' | 'readNpy';

export interface FuzzRequest {
  index: number;
  loader: FuzzLoader;
  path: string;
}

/** A loader's outcome: success, or the error's class name, code (for a CentroidError) and message. */
export type FuzzOutcome = { ok: true } | { ok: false; name: string; code: string | null; message: string };

export interface FuzzReply {
  index: number;
  outcome: FuzzOutcome;
  /**
   * Whether the WebAssembly module of h5wasm trapped, which leaves it unusable: every later
   * file would fail the same way, so the parent replaces this process. readKerasH5 starts a
   * fresh process per file, so a trap there affects only that file.
   */
  trapped: boolean;
}

function isWasmTrap(error: unknown): boolean {
  for (let current = error; current instanceof Error; current = current.cause) {
    // WebAssembly.RuntimeError, named here because this project's TypeScript lib has no WebAssembly values.
    if (current.constructor.name === 'RuntimeError') return true;
  }
  return false;
}

/** Largest expansion readNpz may allocate here, so that a mutated size cannot exhaust the child's memory. */
const MAX_EXPANDED_BYTES = 256 * 1024 * 1024;

async function runLoader(loader: FuzzLoader, path: string): Promise<void> {
  const filename = path.slice(path.lastIndexOf('/') + 1);
  switch (loader) {
    case 'readKerasH5': {
      // readKerasH5 runs this function in its child process, then the caller builds the model.
      const file = await readKerasH5InProcess(path, filename);
      const { model } = await toLayersModel(file);
      model.dispose();
      return;
    }
    case 'inspectModelFile': {
      // inspectModelFile runs the HDF5 part in its child process and checks the config in the caller.
      const { modelConfig } = await inspectKerasH5InProcess(path, filename);
      const { unsupported } = translateModelConfig(modelConfig);
      if (unsupported.length > 0) throw unsupportedLayersError(filename, unsupported);
      return;
    }
    case 'readKerasArchive': {
      // readKerasArchive runs this function in its child process, then the caller builds the model.
      const { model } = await toLayersModel(await readKerasArchiveInProcess(path, filename, {}));
      model.dispose();
      return;
    }
    case 'readTfjsModel': {
      const { model } = await toLayersModel(await readTfjsModel(path, filename));
      model.dispose();
      return;
    }
    case 'readNpz':
      await readNpz(path, { maxExpandedBytes: MAX_EXPANDED_BYTES });
      return;
    case 'readNpzArrayNames':
      await readNpzArrayNames(path);
      return;
    case 'readNpy':
      await readNpy(path);
      return;
  }
}

async function run(request: FuzzRequest): Promise<FuzzReply> {
  const tensorsBefore = tf.memory().numTensors;
  try {
    await runLoader(request.loader, request.path);
    return { index: request.index, outcome: { ok: true }, trapped: false };
  } catch (error) {
    const trapped = isWasmTrap(error);
    if (error instanceof CentroidError) {
      return { index: request.index, outcome: { ok: false, name: error.name, code: error.code, message: error.message.slice(0, 1000) }, trapped };
    }
    const { name, message, stack } = error instanceof Error ? error : new Error(String(error));
    return { index: request.index, outcome: { ok: false, name, code: null, message: `${message}\n${stack ?? ''}`.slice(0, 2000) }, trapped };
  } finally {
    // A model that failed half-built leaves its tensors; they would pile up over many files.
    if (tf.memory().numTensors > tensorsBefore + 10_000) tf.disposeVariables();
  }
}

process.on('message', (request: FuzzRequest) => {
  void run(request).then((reply) => process.send?.(reply));
});
