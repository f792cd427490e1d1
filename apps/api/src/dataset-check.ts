// The check an uploaded NPZ dataset passes before its job is queued: a readable archive that
// contains every array the parameters name, with matching sample counts. Shapes against the
// model are checked by the worker, which builds the model.
import { CentroidError, labelCountMismatch, type JobParams } from '@centroid/contracts';
import { readNpzArrayNames } from '@centroid/model-io';

/** Raises a DATASET_* error naming the array or file when the dataset cannot serve the job. */
export type DatasetInspector = (path: string, filename: string, params: JobParams) => Promise<void>;

type ArrayParam = 'x_train' | 'y_train' | 'x_test' | 'y_test';

export const inspectUploadedDataset: DatasetInspector = async (path, filename, params) => {
  let arrays;
  try {
    arrays = await readNpzArrayNames(path, { filename });
  } catch (error) {
    if (!(error instanceof CentroidError) || error.location.field !== undefined) throw error;
    throw new CentroidError(error.code, error.message, { ...error.location, field: 'dataset' }, { cause: error });
  }
  const shapes = new Map(arrays.map((array) => [array.name, array.shape]));

  const required: ArrayParam[][] = [['x_test', 'y_test']];
  if (params.fine_tune.epochs > 0) required.unshift(['x_train', 'y_train']);

  for (const pair of required) {
    for (const key of pair) {
      const name = params.dataset[key];
      if (shapes.has(name)) continue;
      const found = arrays.map((array) => `'${array.name}'`).join(', ') || 'no arrays';
      throw new CentroidError(
        'DATASET_ARRAY_MISSING',
        `Dataset ${filename} has no array '${name}' (parameter dataset.${key}); it contains ${found}. ` +
          `Name the array with dataset.${key}${key.endsWith('train') ? ', set fine_tune.epochs to 0,' : ''} or add it to the file.`,
        { field: `dataset.${key}`, file: filename },
      );
    }

    const [xKey, yKey] = pair as [ArrayParam, ArrayParam];
    const xSamples = shapes.get(params.dataset[xKey])?.[0];
    const ySamples = shapes.get(params.dataset[yKey])?.[0];
    if (xSamples !== ySamples) {
      throw labelCountMismatch({
        file: filename,
        inputs: { name: params.dataset[xKey], samples: xSamples ?? null },
        labels: { name: params.dataset[yKey], field: `dataset.${yKey}`, samples: ySamples ?? null },
      });
    }
  }
};
