// Summarises a `.keras` archive from its config and the dataset headers of its weights
// file, without decoding any weight values.
import { CentroidError } from '@centroid/contracts';

import { withModelArchive } from '../archive/model-archive.js';
import { checkModelConfig, KERAS_ARCHIVE_KIND, readArchiveMembers, withWeightsFile } from './read.js';
import { nameArchiveVariables } from './variable-names.js';
import { describeArchiveWeights } from './weight-layout.js';

import type { ArchiveLimits } from '../archive/model-archive.js';
import type { InspectedModelFile } from '../keras-h5/inspect.js';
import type { KerasModelConfig } from '../keras-h5/types.js';

/** Returns the number of layers in a model config's `layers` list, or 1 for a config of a single layer. */
export function countTopLevelLayers(modelConfig: KerasModelConfig): number {
  const layers = (modelConfig.config as { layers?: unknown }).layers;
  return Array.isArray(layers) ? layers.length : 1;
}

/** Inspects a `.keras` archive in this process; `inspectModelFile` runs this in a child process. */
export async function inspectKerasArchiveInProcess(path: string, filename: string, limits: ArchiveLimits): Promise<InspectedModelFile> {
  return withModelArchive(path, filename, KERAS_ARCHIVE_KIND, limits, async (archive) => {
    const { config, metadata, weightsBytes } = await readArchiveMembers(archive, filename);
    const modelConfig = checkModelConfig(config, filename);
    const weights = await withWeightsFile(weightsBytes, filename, (file) => describeArchiveWeights(file, modelConfig, filename));
    if (weights.length === 0) {
      throw new CentroidError('MODEL_INVALID', `${filename} contains no weight tensors, so there is nothing to cluster; expected a trained model.`, {
        file: filename,
      });
    }
    return {
      summary: {
        format: 'keras',
        kerasVersion: typeof metadata?.keras_version === 'string' ? metadata.keras_version : null,
        layerCount: countTopLevelLayers(modelConfig),
        weightCount: weights.length,
        parameterCount: weights.reduce((sum, weight) => sum + weight.shape.reduce((product, size) => product * size, 1), 0),
      },
      modelConfig,
      weights: nameArchiveVariables(modelConfig, weights),
    };
  });
}
