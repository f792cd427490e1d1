// Summarises a Keras HDF5 model from its attributes and dataset headers, without
// reading any weight values.
import { CentroidError } from '@centroid/contracts';

import { readModelMetadata } from './metadata.js';
import { withKerasH5File } from './open.js';
import { readWeightIndex, type WeightDescriptor } from './weight-index.js';

import type { ModelFormat } from '../model-types.js';
import type { KerasModelConfig } from './types.js';

/** Summary of a model file, for the check that runs before a job is queued. */
export interface ModelFileSummary {
  format: ModelFormat;
  /** The Keras version that saved the model (for TF.js, the topology's `keras_version`), or null when the file has none. */
  kerasVersion: string | null;
  /**
   * Number of top-level layers: in the `layer_names` attribute of a `.h5` file, or in the
   * model config of the other formats, including layers without weights.
   */
  layerCount: number;
  /** Number of weight tensors. */
  weightCount: number;
  /** Number of scalar values over all weight tensors. */
  parameterCount: number;
}

/** Result of the inspecting child process: the summary, and the model config for the TF.js check. */
export interface InspectedModelFile {
  summary: ModelFileSummary;
  modelConfig: KerasModelConfig;
  /** Every weight dataset, in file order, without values. */
  weights: WeightDescriptor[];
}

/** Inspects a Keras HDF5 model in this process; `inspectModelFile` runs this in a child process. */
export async function inspectKerasH5InProcess(path: string, filename: string): Promise<InspectedModelFile> {
  return withKerasH5File(path, filename, (file) => {
    const metadata = readModelMetadata(file, filename);
    const { layerNames, weights } = readWeightIndex(file, filename);

    if (weights.length === 0) {
      throw new CentroidError(
        'MODEL_INVALID',
        `${filename} contains no weight tensors, so there is nothing to cluster; expected a trained model.`,
        { file: filename },
      );
    }

    const parameterCount = weights.reduce((sum, weight) => sum + weight.shape.reduce((product, size) => product * size, 1), 0);
    const summary: ModelFileSummary = {
      format: 'keras_h5',
      kerasVersion: metadata.kerasVersion,
      layerCount: layerNames.length,
      weightCount: weights.length,
      parameterCount,
    };
    return { summary, modelConfig: metadata.modelConfig, weights };
  });
}
