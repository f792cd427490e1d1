// The quick check that the API runs on an upload before it queues a job.
import { basename, posix } from 'node:path';

import { CentroidError } from '@centroid/contracts';

import { countTopLevelLayers } from './keras-archive/inspect.js';
import { reportUnsupportedLayersFirst } from './keras-archive/unsupported-layers.js';
import { defaultTimeoutMs, runIsolatedH5Task } from './keras-h5/isolated.js';
import { checkLayerGraph } from './keras-h5/check-layer-graph.js';
import { translateModelConfig, unsupportedLayersError } from './keras-h5/tfjs-config.js';
import { detectModelFormat } from './model-file.js';
import { readManifest, withTfjsContainer } from './tfjs/read.js';

import type { ArchiveLimits } from './archive/model-archive.js';
import type { InspectedModelFile, ModelFileSummary } from './keras-h5/inspect.js';
import type { IsolationOptions } from './keras-h5/isolated.js';
import type { KerasModelConfig } from './keras-h5/types.js';

export type { ModelFileSummary } from './keras-h5/inspect.js';

/** The summary of a model file, with the config and weight list that the check of `layers` rules needs. */
export interface ModelInspection extends ModelFileSummary {
  modelConfig: InspectedModelFile['modelConfig'];
  /**
   * Every weight, in file order, without values, listed as a `.h5` file lists them: `layer`
   * is the top-level layer and `name` ends with the weight's name, such as `dense/kernel`.
   */
  weights: InspectedModelFile['weights'];
  /**
   * The shard paths that a TF.js model.json's weightsManifest lists, normalised as POSIX
   * paths (`./group1-shard1of1.bin` becomes `group1-shard1of1.bin`), or null for the Keras formats.
   */
  tfjsShardPaths: string[] | null;
}

/**
 * Checks that a model file is a Keras HDF5 model, a `.keras` archive or a TF.js layers
 * model with a parsable config, at least one weight tensor and only layers that TF.js can
 * build, and summarises it. No weight values are decoded. The child process that runs the
 * HDF5 library keeps a copy of the HDF5 file in memory while it works, and a TF.js
 * model's shards are only measured. Raises the errors of `readModel`, MODEL_INVALID for a
 * model without weights, and MODEL_LAYER_UNSUPPORTED listing every layer that
 * `toLayersModel` would reject from the config alone.
 */
export async function inspectModelFile(
  path: string,
  filename: string = basename(path),
  options: IsolationOptions & ArchiveLimits = {},
): Promise<ModelInspection> {
  const format = await detectModelFormat(path, filename);
  const { summary, modelConfig, weights, tfjsShardPaths } =
    format === 'tfjs' ? await inspectTfjs(path, filename, options) : { ...(await inspectInChild(path, filename, format, options)), tfjsShardPaths: null };

  // The config is checked here, in the caller, so that the child never loads TF.js. The
  // TF.js model itself is not built: that would allocate and initialise every weight, so
  // memory and time would grow with the model. Errors that only modelFromJSON raises,
  // such as an unknown activation, therefore still surface when the job runs.
  const { topology, unsupported } = translateModelConfig(modelConfig);
  if (unsupported.length > 0) {
    throw unsupportedLayersError(filename, unsupported);
  }
  checkLayerGraph(topology, filename);
  return { ...summary, modelConfig, weights, tfjsShardPaths };
}

async function inspectInChild(
  path: string,
  filename: string,
  format: 'keras_h5' | 'keras',
  options: IsolationOptions & ArchiveLimits,
): Promise<InspectedModelFile> {
  const timeoutMs = options.timeoutMs ?? (await defaultTimeoutMs(path));
  if (format === 'keras_h5') {
    return runIsolatedH5Task<InspectedModelFile>('inspectKerasH5', [path, filename], timeoutMs, {
      filename,
      activity: 'inspecting the HDF5 file',
      failureCode: 'MODEL_INVALID',
    });
  }
  const limits: ArchiveLimits = options.maxExpandedBytes === undefined ? {} : { maxExpandedBytes: options.maxExpandedBytes };
  return reportUnsupportedLayersFirst(path, filename, limits, () =>
    runIsolatedH5Task<InspectedModelFile>('inspectKerasArchive', [path, filename, limits], timeoutMs, {
      filename,
      activity: 'inspecting the .keras archive',
      failureCode: 'MODEL_INVALID',
    }),
  );
}

async function inspectTfjs(path: string, filename: string, limits: ArchiveLimits): Promise<InspectedModelFile & { tfjsShardPaths: string[] }> {
  const manifest = await withTfjsContainer(path, filename, limits, (container) => readManifest(container, filename));
  const specs = manifest.weightGroups.flatMap((group) => group.weights);
  if (specs.length === 0) {
    throw new CentroidError('MODEL_INVALID', `${filename} lists no weights in its manifest, so there is nothing to cluster; expected a trained model.`, {
      file: filename,
    });
  }

  const topLevelOf = topLevelLayerIndex(manifest.modelConfig);
  const weights = specs.map((spec) => {
    const leaf = spec.name.split('/')[0] as string;
    return { layer: topLevelOf.get(leaf) ?? leaf, name: spec.name, datasetPath: spec.name, shape: spec.shape, dtype: spec.dtype };
  });
  return {
    summary: {
      format: 'tfjs',
      kerasVersion: manifest.kerasVersion,
      layerCount: countTopLevelLayers(manifest.modelConfig),
      weightCount: specs.length,
      parameterCount: specs.reduce((sum, spec) => sum + spec.shape.reduce((product, size) => product * size, 1), 0),
    },
    modelConfig: manifest.modelConfig,
    weights,
    tfjsShardPaths: manifest.weightGroups.flatMap((group) => group.paths.map((shard) => posix.normalize(shard))),
  };
}

/** Maps every layer name, those inside nested models included, to the name of the top-level layer that contains it. */
function topLevelLayerIndex(modelConfig: KerasModelConfig): Map<string, string> {
  const index = new Map<string, string>();
  const visit = (config: unknown, topLevel: string | null) => {
    const layers = (config as { config?: { layers?: unknown } }).config?.layers;
    if (!Array.isArray(layers)) {
      return;
    }
    for (const layer of layers as { config?: { name?: unknown } }[]) {
      const name = String(layer.config?.name);
      index.set(name, topLevel ?? name);
      visit(layer, topLevel ?? name);
    }
  };
  visit(modelConfig, null);
  return index;
}
