// Turns the arrays of an uploaded NPZ into the tensors the engine trains and evaluates on:
// checks names and shapes against the model, scales inputs, and converts labels to the form
// the model's loss needs (class indices or one-hot).
import * as tf from '@tensorflow/tfjs';
import { CentroidError, labelCountMismatch, type DatasetParams, type Warning } from '@centroid/contracts';

/** One array read from an NPZ file. */
export interface DatasetArray {
  name: string;
  dtype: string;
  shape: number[];
  data: ArrayLike<number | bigint>;
}

export type LabelForm = 'one_hot' | 'index' | 'same_as_output';

export interface Split {
  x: tf.Tensor;
  y: tf.Tensor;
  samples: number;
}

export interface PreparedDataset {
  /** Null when the dataset has no training arrays. */
  train: Split | null;
  test: Split | null;
  /** Training samples in the file before `max_train_samples` applied. */
  availableTrainSamples: number;
  warnings: Warning[];
}

export interface DatasetRequirements {
  /** Model input shape with the batch dimension first (null), as TF.js reports it. */
  inputShape: (number | null)[];
  /** Model output shape with the batch dimension first. */
  outputShape: (number | null)[];
  labelForm: LabelForm;
  /** Whether training arrays must be present (fine-tuning requested). */
  needsTrain: boolean;
  maxTrainSamples: number | null;
}

const describeShape = (shape: readonly (number | null)[]): string =>
  `(${shape.map((dim) => (dim === null ? 'n' : String(dim))).join(', ')}${shape.length === 1 ? ',' : ''})`;

function requireArray(
  arrays: Map<string, DatasetArray>,
  key: ArrayKey,
  params: DatasetParams,
  file: string,
): DatasetArray {
  const name = params[key];
  const array = arrays.get(name);
  if (array === undefined) {
    const found = [...arrays.keys()].map((n) => `'${n}'`).join(', ') || 'no arrays';
    throw new CentroidError(
      'DATASET_ARRAY_MISSING',
      `Dataset ${file} has no array '${name}' (parameter dataset.${key}); it contains ${found}. ` +
        `Name the array with dataset.${key} or add it to the file.`,
      { field: `dataset.${key}`, file },
    );
  }
  return array;
}

/**
 * Converts to float32 and scales, raising DATASET_INVALID at the first value that is NaN or
 * infinite, before or after scaling, or that overflows float32.
 */
function toFloat32(array: DatasetArray, scale: number, field: string, file: string): Float32Array {
  const out = new Float32Array(array.data.length);
  for (let i = 0; i < out.length; i++) {
    const value = Number(array.data[i]);
    const scaled = value * scale;
    out[i] = scaled;
    if (!Number.isFinite(out[i])) throw nonFiniteValue(array, i, value, scale, field, file);
  }
  return out;
}

function nonFiniteValue(array: DatasetArray, index: number, value: number, scale: number, field: string, file: string): CentroidError {
  const sampleSize = array.shape.slice(1).reduce((a, b) => a * b, 1);
  const sample = sampleSize === 0 ? 0 : Math.floor(index / sampleSize);
  const scaled = value * scale;
  let becomes = '';
  if (Number.isFinite(value) && scale !== 1) becomes = `, which is ${scaled} after input_scale ${scale}`;
  if (Number.isFinite(scaled)) becomes += `${becomes === '' ? ', which is' : ' and'} ${Math.fround(scaled)} as float32`;
  return new CentroidError(
    'DATASET_INVALID',
    `Array '${array.name}' in ${file} has the value ${value} at flat index ${index} (sample ${sample}, shape ${describeShape(array.shape)})` +
      `${becomes}; expected finite numbers.`,
    { file, field },
  );
}

/** Checks x against the model input and returns the shape to build the tensor with. */
function inputShapeFor(
  array: DatasetArray,
  field: string,
  expected: (number | null)[],
  file: string,
  warnings: Warning[],
): number[] {
  const sampleShape = expected.slice(1);
  const found = array.shape;
  const matches = (shape: number[]) =>
    shape.length === sampleShape.length + 1 && sampleShape.every((dim, i) => dim === null || dim === shape[i + 1]);

  if (matches(found)) return found;

  // MNIST-style arrays often omit the trailing channel of 1 that a Conv2D model expects.
  const withChannel = [...found, 1];
  if (sampleShape[sampleShape.length - 1] === 1 && matches(withChannel)) {
    warnings.push({
      code: 'DATASET_CHANNEL_ADDED',
      message: `${array.name} in ${file} has shape ${describeShape(found)}; a trailing channel of 1 was added to fit the model input ${describeShape(expected)}.`,
    });
    return withChannel;
  }

  throw new CentroidError(
    'DATASET_SHAPE_MISMATCH',
    `Array '${array.name}' in ${file} has shape ${describeShape(found)}; the model expects ${describeShape(expected)}.`,
    { file, field },
  );
}

function classCount(outputShape: (number | null)[]): number {
  const last = outputShape[outputShape.length - 1];
  return typeof last === 'number' ? last : 1;
}

function labelsFor(
  array: DatasetArray,
  field: string,
  samples: number,
  requirements: DatasetRequirements,
  file: string,
): tf.Tensor {
  const { labelForm, outputShape } = requirements;
  const classes = classCount(outputShape);
  const shape = array.shape;
  const mismatch = (expected: string) =>
    new CentroidError(
      'DATASET_SHAPE_MISMATCH',
      `Array '${array.name}' in ${file} has shape ${describeShape(shape)}; expected ${expected} for a model whose output is ${describeShape(outputShape)}.`,
      { file, field },
    );

  const isIndexVector = shape.length === 1 || (shape.length === 2 && shape[1] === 1 && classes > 1);
  const isOneHot = shape.length === 2 && shape[1] === classes && classes > 1;

  if (labelForm === 'same_as_output') {
    const sampleShape = outputShape.slice(1).map((dim) => dim ?? 1);
    const size = sampleShape.reduce((a, b) => a * b, 1);
    if (array.data.length !== samples * size) throw mismatch(describeShape(outputShape));
    return tf.tensor(toFloat32(array, 1, field, file), [samples, ...sampleShape], 'float32');
  }

  let indices: Int32Array;
  if (isIndexVector) {
    indices = new Int32Array(samples);
    for (let i = 0; i < samples; i++) {
      const value = Number(array.data[i]);
      if (!Number.isInteger(value) || value < 0 || value >= classes) {
        throw new CentroidError(
          'DATASET_INVALID',
          `Array '${array.name}' in ${file} has label ${value} at index ${i} (shape ${describeShape(shape)}); ` +
            `expected a class index from 0 to ${classes - 1} for a model whose output is ${describeShape(outputShape)}.`,
          { file, field },
        );
      }
      indices[i] = value;
    }
  } else if (isOneHot) {
    const values = toFloat32(array, 1, field, file);
    if (labelForm === 'one_hot') return tf.tensor2d(values, [samples, classes], 'float32');
    indices = oneHotToIndices(values, samples, classes, (row) => {
      const found = Array.from(values.subarray(row * classes, (row + 1) * classes)).join(', ');
      return new CentroidError(
        'DATASET_INVALID',
        `Array '${array.name}' in ${file} has row ${row} [${found}] (shape ${describeShape(shape)}), which is not one-hot; ` +
          `expected one 1 and 0 elsewhere, because the model's loss takes class indices.`,
        { file, field },
      );
    });
  } else {
    throw mismatch(`(n,) class indices or (n, ${classes}) one-hot labels`);
  }

  if (labelForm === 'index') return tf.tensor1d(indices, 'int32');
  return tf.tidy(() => tf.oneHot(tf.tensor1d(indices, 'int32'), classes).toFloat());
}

/** Returns the position of the 1 in each row, raising `notOneHot(row)` for a row that is not exactly one 1 and 0 elsewhere. */
function oneHotToIndices(values: Float32Array, samples: number, classes: number, notOneHot: (row: number) => Error): Int32Array {
  const indices = new Int32Array(samples);
  for (let row = 0; row < samples; row++) {
    let hot = -1;
    for (let c = 0; c < classes; c++) {
      const value = values[row * classes + c];
      if (value === 0) continue;
      if (value !== 1 || hot !== -1) throw notOneHot(row);
      hot = c;
    }
    if (hot === -1) throw notOneHot(row);
    indices[row] = hot;
  }
  return indices;
}

type ArrayKey = keyof Omit<DatasetParams, 'input_scale'>;

function buildSplit(
  [xKey, yKey]: [ArrayKey, ArrayKey],
  x: DatasetArray,
  y: DatasetArray,
  params: DatasetParams,
  requirements: DatasetRequirements,
  file: string,
  warnings: Warning[],
  limit: number | null,
): Split {
  const shape = inputShapeFor(x, `dataset.${xKey}`, requirements.inputShape, file, warnings);
  const available = shape[0] ?? 0;
  if (available === 0) {
    throw new CentroidError('DATASET_INVALID', `Array '${x.name}' in ${file} has no samples; expected at least one.`, {
      file,
      field: `dataset.${xKey}`,
    });
  }
  const samples = limit === null ? available : Math.min(limit, available);
  const sampleSize = shape.slice(1).reduce((a, b) => a * b, 1);

  if (y.shape[0] !== available) {
    throw labelCountMismatch({
      file,
      inputs: { name: x.name, samples: available },
      labels: { name: y.name, field: `dataset.${yKey}`, samples: y.shape[0] ?? null },
    });
  }
  const labels = labelsFor(y, `dataset.${yKey}`, available, requirements, file);
  const xFull = toFloat32({ ...x, data: sliceLike(x.data, samples * sampleSize) }, params.input_scale, `dataset.${xKey}`, file);
  const yTensor = samples === available ? labels : tf.tidy(() => labels.slice(0, samples));
  if (yTensor !== labels) labels.dispose();

  return { x: tf.tensor(xFull, [samples, ...shape.slice(1)], 'float32'), y: yTensor, samples };
}

function sliceLike(data: ArrayLike<number | bigint>, length: number): ArrayLike<number | bigint> {
  if (length >= data.length) return data;
  const sliceable = data as unknown as { subarray?: (start: number, end: number) => ArrayLike<number | bigint> };
  if (typeof sliceable.subarray === 'function') return sliceable.subarray(0, length);
  return Array.prototype.slice.call(data, 0, length) as number[];
}

/** Builds train and test tensors from the NPZ arrays named in the job parameters. */
export function prepareDataset(
  arrays: Map<string, DatasetArray>,
  params: DatasetParams,
  requirements: DatasetRequirements,
  file: string,
): PreparedDataset {
  const warnings: Warning[] = [];

  const xTest = requireArray(arrays, 'x_test', params, file);
  const yTest = requireArray(arrays, 'y_test', params, file);
  const test = buildSplit(['x_test', 'y_test'], xTest, yTest, params, requirements, file, warnings, null);

  let train: Split | null = null;
  let availableTrainSamples = 0;
  const hasTrain = arrays.has(params.x_train) || arrays.has(params.y_train);
  if (requirements.needsTrain || hasTrain) {
    try {
      const xTrain = requireArray(arrays, 'x_train', params, file);
      const yTrain = requireArray(arrays, 'y_train', params, file);
      availableTrainSamples = xTrain.shape[0] ?? 0;
      train = buildSplit(['x_train', 'y_train'], xTrain, yTrain, params, requirements, file, warnings, requirements.maxTrainSamples);
    } catch (error) {
      tf.dispose([test.x, test.y]);
      throw error;
    }
  }

  return { train, test, availableTrainSamples, warnings };
}

export function disposeDataset(dataset: PreparedDataset | null): void {
  if (dataset === null) return;
  for (const split of [dataset.train, dataset.test]) {
    if (split !== null) tf.dispose([split.x, split.y]);
  }
}
