// Keras 3 names each layer's group in `model.weights.h5` after the layer's class
// (`dense`, `dense_1`), so a layer of a class that TF.js cannot build usually shows up
// first as a missing weights group. This module loads TF.js, so only the parent process
// imports it, never child-entry.ts.
import { isCentroidError } from '@centroid/contracts';

import { withModelArchive } from '../archive/model-archive.js';
import { translateModelConfig, unsupportedLayersError } from '../keras-h5/tfjs-config.js';
import { readJsonMember } from './archive-json.js';
import { checkModelConfig, CONFIG_MEMBER, KERAS_ARCHIVE_KIND } from './read.js';

import type { ArchiveLimits } from '../archive/model-archive.js';

/**
 * Runs `task`, which reads the weights of the `.keras` archive at `path`. When it raises
 * MODEL_WEIGHTS_MISMATCH and the archive's config has layers that TF.js cannot build,
 * raises MODEL_LAYER_UNSUPPORTED instead, which lists every such layer by name and class.
 * Any other error, or a mismatch in a model whose layers are all supported, passes unchanged.
 */
export async function reportUnsupportedLayersFirst<T>(path: string, filename: string, limits: ArchiveLimits, task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (error) {
    if (!isCentroidError(error) || error.code !== 'MODEL_WEIGHTS_MISMATCH') throw error;
    const config = await withModelArchive(path, filename, KERAS_ARCHIVE_KIND, limits, async (archive) => {
      const entry = archive.find(CONFIG_MEMBER);
      return entry === undefined ? null : readJsonMember(archive, entry, filename);
    });
    if (config === null) throw error;
    const { unsupported } = translateModelConfig(checkModelConfig(config, filename));
    if (unsupported.length === 0) throw error;
    throw unsupportedLayersError(filename, unsupported, error);
  }
}
