import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { CentroidError, DatasetParamsSchema, type DatasetParams } from '@centroid/contracts';
import { NpzWriter, readNpz } from '@centroid/model-io';
import { disposeDataset, prepareDataset, type DatasetRequirements, type LabelForm } from '../src/prepare-dataset.js';

/** NumPy type codes, without the byte-order character. */
type TypeCode = 'b1' | 'u1' | 'i1' | 'i2' | 'i4' | 'i8' | 'u2' | 'u4' | 'u8' | 'f2' | 'f4' | 'f8';

interface NpySpec {
  code: TypeCode;
  shape: number[];
  /** Values in C order. */
  values: number[];
  bigEndian?: boolean;
  fortranOrder?: boolean;
}

const ITEM_SIZE: Record<TypeCode, number> = { b1: 1, u1: 1, i1: 1, i2: 2, u2: 2, i4: 4, u4: 4, i8: 8, u8: 8, f2: 2, f4: 4, f8: 8 };

/** Encodes a float16 bit pattern for zero, a normal value, an infinity or NaN; the finite test values are exact in float16. */
function float16Bits(value: number): number {
  if (value === 0) return 0;
  if (Number.isNaN(value)) return 0x7e00;
  if (!Number.isFinite(value)) return value > 0 ? 0x7c00 : 0xfc00;
  const sign = value < 0 ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  const exponent = Math.floor(Math.log2(magnitude));
  const mantissa = Math.round((magnitude / 2 ** exponent - 1) * 1024);
  return sign | ((exponent + 15) << 10) | mantissa;
}

function writeValue(view: DataView, offset: number, code: TypeCode, value: number, littleEndian: boolean): void {
  switch (code) {
    case 'b1':
    case 'u1':
      return view.setUint8(offset, value);
    case 'i1':
      return view.setInt8(offset, value);
    case 'i2':
      return view.setInt16(offset, value, littleEndian);
    case 'u2':
      return view.setUint16(offset, value, littleEndian);
    case 'i4':
      return view.setInt32(offset, value, littleEndian);
    case 'u4':
      return view.setUint32(offset, value, littleEndian);
    case 'i8':
      return view.setBigInt64(offset, BigInt(value), littleEndian);
    case 'u8':
      return view.setBigUint64(offset, BigInt(value), littleEndian);
    case 'f2':
      return view.setUint16(offset, float16Bits(value), littleEndian);
    case 'f4':
      return view.setFloat32(offset, value, littleEndian);
    case 'f8':
      return view.setFloat64(offset, value, littleEndian);
  }
}

/** Returns the C-order values reordered as Fortran order stores them: the first axis fastest. */
function toFortranOrder(values: number[], shape: number[]): number[] {
  const strides = shape.map((_, axis) => shape.slice(axis + 1).reduce((product, size) => product * size, 1));
  const result: number[] = [];
  const index = new Array<number>(shape.length).fill(0);
  for (let count = 0; count < values.length; count++) {
    result.push(values[index.reduce((sum, position, axis) => sum + position * strides[axis]!, 0)]!);
    for (let axis = 0; axis < shape.length; axis++) {
      index[axis]! += 1;
      if (index[axis]! < shape[axis]!) break;
      index[axis] = 0;
    }
  }
  return result;
}

/** Encodes an `.npy` file, format 1.0, as NumPy writes it for the spec. */
function encodeNpySpec(spec: NpySpec): Uint8Array {
  const order = ITEM_SIZE[spec.code] === 1 ? '|' : spec.bigEndian ? '>' : '<';
  const tuple = spec.shape.length === 1 ? `(${spec.shape[0]},)` : `(${spec.shape.join(', ')})`;
  const dict = `{'descr': '${order}${spec.code}', 'fortran_order': ${spec.fortranOrder ? 'True' : 'False'}, 'shape': ${tuple}, }`;
  const text = dict + ' '.repeat((64 - ((10 + dict.length + 1) % 64)) % 64) + '\n';

  const itemSize = ITEM_SIZE[spec.code];
  const values = spec.fortranOrder ? toFortranOrder(spec.values, spec.shape) : spec.values;
  const bytes = new Uint8Array(10 + text.length + values.length * itemSize);
  const view = new DataView(bytes.buffer);
  bytes.set([0x93, ...Buffer.from('NUMPY'), 1, 0]);
  view.setUint16(8, text.length, true);
  bytes.set(Buffer.from(text, 'latin1'), 10);
  values.forEach((value, index) => writeValue(view, 10 + text.length + index * itemSize, spec.code, value, !spec.bigEndian));
  return bytes;
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

const DEFAULT_PARAMS: DatasetParams = DatasetParamsSchema.parse({});
const FILE = 'data.npz';

function requirements(labelForm: LabelForm, overrides: Partial<DatasetRequirements> = {}): DatasetRequirements {
  return { inputShape: [null, 4], outputShape: [null, 3], labelForm, needsTrain: false, maxTrainSamples: null, ...overrides };
}

/** 3 samples of 4 features, 0 to 11 in C order, and class indices 2, 0, 1. */
const FEATURES: NpySpec = { code: 'f4', shape: [3, 4], values: Array.from({ length: 12 }, (_, index) => index) };
const INDICES: NpySpec = { code: 'i8', shape: [3], values: [2, 0, 1] };
const ONE_HOT_ROWS = [
  [0, 0, 1],
  [1, 0, 0],
  [0, 1, 0],
];

describe('prepareDataset', () => {
  let folder: string;
  let fileCount = 0;

  before(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'centroid-prepare-'));
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  /** Packs the arrays into an NPZ on disk and reads it back with readNpz, as the pipeline does. */
  async function readArrays(arrays: Record<string, NpySpec>) {
    const chunks: Uint8Array[] = [];
    const writer = new NpzWriter(async (chunk) => {
      chunks.push(chunk.slice());
    });
    for (const [name, spec] of Object.entries(arrays)) await writer.addNpy(name, once(encodeNpySpec(spec)), `${name}.npy`);
    await writer.finish();
    const file = path.join(folder, `arrays-${fileCount++}.npz`);
    await writeFile(file, Buffer.concat(chunks));
    return readNpz(file, { filename: FILE });
  }

  async function prepare(arrays: Record<string, NpySpec>, labelForm: LabelForm, overrides: Partial<DatasetRequirements> = {}, params = DEFAULT_PARAMS) {
    return prepareDataset(await readArrays(arrays), params, requirements(labelForm, overrides), FILE);
  }

  async function assertRejects(
    arrays: Record<string, NpySpec>,
    labelForm: LabelForm,
    code: string,
    field: string,
    pattern: RegExp,
    overrides: Partial<DatasetRequirements> = {},
  ): Promise<void> {
    const arraysRead = await readArrays(arrays);
    assert.throws(
      () => prepareDataset(arraysRead, DEFAULT_PARAMS, requirements(labelForm, overrides), FILE),
      (error: unknown) => {
        assert.ok(error instanceof CentroidError, `expected a CentroidError, got ${String(error)}`);
        assert.equal(error.code, code, error.message);
        assert.equal(error.location.field, field);
        assert.equal(error.location.file, FILE);
        assert.match(error.message, pattern);
        return true;
      },
    );
  }

  describe('feature dtypes and layouts', () => {
    const codes: TypeCode[] = ['f2', 'f4', 'f8', 'u1', 'i1', 'i2', 'i4', 'i8', 'u2', 'u4', 'u8', 'b1'];
    for (const code of codes) {
      const byteOrders = ITEM_SIZE[code] === 1 ? [false] : [false, true];
      for (const bigEndian of byteOrders) {
        for (const fortranOrder of [false, true]) {
          const label = `${bigEndian ? '>' : '<'}${code} in ${fortranOrder ? 'Fortran' : 'C'} order`;
          it(`reads ${label}`, async () => {
            const values = code === 'b1' ? FEATURES.values.map((value) => value % 2) : FEATURES.values;
            const dataset = await prepare({ x_test: { code, shape: [3, 4], values, bigEndian, fortranOrder }, y_test: INDICES }, 'index');
            try {
              assert.equal(dataset.test?.x.dtype, 'float32');
              assert.deepEqual(dataset.test?.x.shape, [3, 4]);
              assert.deepEqual(Array.from(dataset.test!.x.dataSync()), values);
            } finally {
              disposeDataset(dataset);
            }
          });
        }
      }
    }

    it('reads negative int8 and int16 values', async () => {
      const values = [-128, -1, 0, 127, -300, 300, -32768, 32767, 5, 6, 7, 8];
      const dataset = await prepare(
        { x_test: { code: 'i2', shape: [3, 4], values }, x_train: { code: 'i1', shape: [1, 4], values: [-128, -1, 0, 127] }, y_test: INDICES, y_train: { code: 'i8', shape: [1], values: [0] } },
        'index',
      );
      try {
        assert.deepEqual(Array.from(dataset.test!.x.dataSync()), values);
        assert.deepEqual(Array.from(dataset.train!.x.dataSync()), [-128, -1, 0, 127]);
      } finally {
        disposeDataset(dataset);
      }
    });

    it('applies input_scale to uint8 features', async () => {
      const params = DatasetParamsSchema.parse({ input_scale: 1 / 255 });
      const dataset = await prepare({ x_test: { code: 'u1', shape: [3, 4], values: [0, 255, 51, 102, 0, 0, 0, 0, 0, 0, 0, 0] }, y_test: INDICES }, 'index', {}, params);
      try {
        assert.deepEqual(Array.from(dataset.test!.x.dataSync()).slice(0, 4), [0, 1, Math.fround(0.2), Math.fround(0.4)]);
      } finally {
        disposeDataset(dataset);
      }
    });

    it('reorders Fortran-order images', async () => {
      // Images of 2×3 with one channel; element (n, h, w, 0) is 100n + 10h + w.
      const values: number[] = [];
      for (let n = 0; n < 2; n++) for (let h = 0; h < 2; h++) for (let w = 0; w < 3; w++) values.push(100 * n + 10 * h + w);
      const dataset = await prepare(
        { x_test: { code: 'f8', shape: [2, 2, 3, 1], values, fortranOrder: true, bigEndian: true }, y_test: { code: 'u1', shape: [2], values: [0, 1] } },
        'index',
        { inputShape: [null, 2, 3, 1] },
      );
      try {
        assert.deepEqual(Array.from(dataset.test!.x.dataSync()), values);
      } finally {
        disposeDataset(dataset);
      }
    });
  });

  describe('labels', () => {
    const indexCodes: TypeCode[] = ['u1', 'i1', 'i2', 'i4', 'i8', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8'];
    for (const code of indexCodes) {
      it(`turns ${code} class indices into sparse labels`, async () => {
        const dataset = await prepare({ x_test: FEATURES, y_test: { code, shape: [3], values: [2, 0, 1], bigEndian: true } }, 'index');
        try {
          assert.equal(dataset.test?.y.dtype, 'int32');
          assert.deepEqual(dataset.test?.y.shape, [3]);
          assert.deepEqual(Array.from(dataset.test!.y.dataSync()), [2, 0, 1]);
        } finally {
          disposeDataset(dataset);
        }
      });

      it(`turns ${code} class indices into one-hot labels`, async () => {
        const dataset = await prepare({ x_test: FEATURES, y_test: { code, shape: [3], values: [2, 0, 1] } }, 'one_hot');
        try {
          assert.equal(dataset.test?.y.dtype, 'float32');
          assert.deepEqual(dataset.test?.y.arraySync(), ONE_HOT_ROWS);
        } finally {
          disposeDataset(dataset);
        }
      });
    }

    it('reads class indices of shape (n, 1)', async () => {
      const dataset = await prepare({ x_test: FEATURES, y_test: { code: 'i4', shape: [3, 1], values: [2, 0, 1] } }, 'one_hot');
      try {
        assert.deepEqual(dataset.test?.y.arraySync(), ONE_HOT_ROWS);
      } finally {
        disposeDataset(dataset);
      }
    });

    it('reads bool class indices for two classes', async () => {
      const dataset = await prepare({ x_test: FEATURES, y_test: { code: 'b1', shape: [3], values: [1, 0, 1] } }, 'index', { outputShape: [null, 2] });
      try {
        assert.deepEqual(Array.from(dataset.test!.y.dataSync()), [1, 0, 1]);
      } finally {
        disposeDataset(dataset);
      }
    });

    for (const code of ['u1', 'b1', 'f2', 'f4', 'f8', 'i8'] as TypeCode[]) {
      it(`turns ${code} one-hot labels into sparse labels`, async () => {
        const dataset = await prepare({ x_test: FEATURES, y_test: { code, shape: [3, 3], values: ONE_HOT_ROWS.flat(), fortranOrder: true } }, 'index');
        try {
          assert.equal(dataset.test?.y.dtype, 'int32');
          assert.deepEqual(Array.from(dataset.test!.y.dataSync()), [2, 0, 1]);
        } finally {
          disposeDataset(dataset);
        }
      });

      it(`keeps ${code} one-hot labels one-hot`, async () => {
        const dataset = await prepare({ x_test: FEATURES, y_test: { code, shape: [3, 3], values: ONE_HOT_ROWS.flat(), bigEndian: true } }, 'one_hot');
        try {
          assert.equal(dataset.test?.y.dtype, 'float32');
          assert.deepEqual(dataset.test?.y.arraySync(), ONE_HOT_ROWS);
        } finally {
          disposeDataset(dataset);
        }
      });
    }

    it('keeps binary labels as the output shape', async () => {
      const dataset = await prepare({ x_test: FEATURES, y_test: { code: 'f4', shape: [3, 1], values: [1, 0, 1] } }, 'same_as_output', { outputShape: [null, 1] });
      try {
        assert.deepEqual(dataset.test?.y.arraySync(), [[1], [0], [1]]);
      } finally {
        disposeDataset(dataset);
      }
    });
  });

  describe('mismatches', () => {
    it('rejects a wrong feature shape', async () => {
      await assertRejects({ x_test: { code: 'f4', shape: [3, 5], values: new Array(15).fill(0) }, y_test: INDICES }, 'index', 'DATASET_SHAPE_MISMATCH', 'dataset.x_test', /^Array 'x_test' in data\.npz has shape \(3, 5\); the model expects \(n, 4\)\.$/);
    });

    it('rejects a wrong feature rank', async () => {
      await assertRejects({ x_test: { code: 'f4', shape: [3, 2, 2], values: new Array(12).fill(0) }, y_test: INDICES }, 'index', 'DATASET_SHAPE_MISMATCH', 'dataset.x_test', /has shape \(3, 2, 2\); the model expects \(n, 4\)/);
    });

    it('rejects a wrong label count', async () => {
      await assertRejects({ x_test: FEATURES, y_test: { code: 'i8', shape: [2], values: [0, 1] } }, 'index', 'DATASET_SHAPE_MISMATCH', 'dataset.y_test', /^Dataset data\.npz has 3 samples in 'x_test' but 2 labels in 'y_test'; expected one label per sample\.$/);
    });

    it('rejects one-hot width unlike the classes', async () => {
      await assertRejects({ x_test: FEATURES, y_test: { code: 'f4', shape: [3, 4], values: new Array(12).fill(0) } }, 'one_hot', 'DATASET_SHAPE_MISMATCH', 'dataset.y_test', /^Array 'y_test' in data\.npz has shape \(3, 4\); expected \(n,\) class indices or \(n, 3\) one-hot labels for a model whose output is \(n, 3\)\.$/);
    });

    it('rejects a class index out of range', async () => {
      await assertRejects({ x_test: FEATURES, y_test: { code: 'i8', shape: [3], values: [2, 3, 0] } }, 'index', 'DATASET_INVALID', 'dataset.y_test', /^Array 'y_test' in data\.npz has label 3 at index 1 \(shape \(3,\)\); expected a class index from 0 to 2 for a model whose output is \(n, 3\)\.$/);
    });

    it('rejects a negative class index', async () => {
      await assertRejects({ x_test: FEATURES, y_test: { code: 'i1', shape: [3], values: [2, -1, 0] } }, 'one_hot', 'DATASET_INVALID', 'dataset.y_test', /has label -1 at index 1 \(shape \(3,\)\); expected a class index from 0 to 2/);
    });

    it('rejects a non-integer class index', async () => {
      await assertRejects({ x_test: FEATURES, y_test: { code: 'f4', shape: [3], values: [2, 0.5, 0] } }, 'index', 'DATASET_INVALID', 'dataset.y_test', /has label 0\.5 at index 1 \(shape \(3,\)\); expected a class index/);
    });

    it('rejects a NaN class index', async () => {
      await assertRejects({ x_test: FEATURES, y_test: { code: 'f8', shape: [3], values: [2, 0, Number.NaN] } }, 'index', 'DATASET_INVALID', 'dataset.y_test', /has label NaN at index 2/);
    });

    it('rejects NaN in the features', async () => {
      const values = [...FEATURES.values];
      values[6] = Number.NaN;
      await assertRejects({ x_test: { ...FEATURES, values }, y_test: INDICES }, 'index', 'DATASET_INVALID', 'dataset.x_test', /^Array 'x_test' in data\.npz has the value NaN at flat index 6 \(sample 1, shape \(3, 4\)\); expected finite numbers\.$/);
    });

    for (const value of [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      it(`rejects ${value} in the features`, async () => {
        const values = [...FEATURES.values];
        values[11] = value;
        await assertRejects({ x_test: { ...FEATURES, code: 'f2', values }, y_test: INDICES }, 'index', 'DATASET_INVALID', 'dataset.x_test', new RegExp(`has the value ${value} at flat index 11 \\(sample 2, shape \\(3, 4\\)\\); expected finite numbers`));
      });
    }

    it('rejects float64 beyond the float32 range', async () => {
      const values = [...FEATURES.values];
      values[3] = 1e39;
      await assertRejects({ x_test: { ...FEATURES, code: 'f8', values }, y_test: INDICES }, 'index', 'DATASET_INVALID', 'dataset.x_test', /has the value 1e\+39 at flat index 3 \(sample 0, shape \(3, 4\)\), which is Infinity as float32; expected finite numbers/);
    });

    it('rejects features that overflow after scaling', async () => {
      const values = [...FEATURES.values];
      values[5] = 60000;
      const arrays = await readArrays({ x_test: { ...FEATURES, code: 'f2', values }, y_test: INDICES });
      const params = DatasetParamsSchema.parse({ input_scale: 1e36 });
      assert.throws(() => prepareDataset(arrays, params, requirements('index'), FILE), /has the value 60000 at flat index 5 \(sample 1, shape \(3, 4\)\), which is 6e\+40 after input_scale 1e\+36 and Infinity as float32/);
    });

    it('rejects a one-hot row of zeros', async () => {
      await assertRejects({ x_test: FEATURES, y_test: { code: 'u1', shape: [3, 3], values: [0, 0, 1, 0, 0, 0, 0, 1, 0] } }, 'index', 'DATASET_INVALID', 'dataset.y_test', /has row 1 \[0, 0, 0\] \(shape \(3, 3\)\), which is not one-hot/);
    });

    it('rejects NaN in one-hot labels', async () => {
      const values = ONE_HOT_ROWS.flat();
      values[4] = Number.NaN;
      await assertRejects({ x_test: FEATURES, y_test: { code: 'f4', shape: [3, 3], values } }, 'index', 'DATASET_INVALID', 'dataset.y_test', /has the value NaN at flat index 4 \(sample 1, shape \(3, 3\)\)/);
    });

    it('rejects a one-hot row without a single 1', async () => {
      await assertRejects({ x_test: FEATURES, y_test: { code: 'f4', shape: [3, 3], values: [0, 0, 1, 0.5, 0.5, 0, 0, 1, 0] } }, 'index', 'DATASET_INVALID', 'dataset.y_test', /^Array 'y_test' in data\.npz has row 1 \[0\.5, 0\.5, 0\] \(shape \(3, 3\)\), which is not one-hot; expected one 1 and 0 elsewhere, because the model's loss takes class indices\.$/);
    });

    it('rejects an empty feature array', async () => {
      await assertRejects({ x_test: { code: 'f4', shape: [0, 4], values: [] }, y_test: { code: 'i8', shape: [0], values: [] } }, 'index', 'DATASET_INVALID', 'dataset.x_test', /Array 'x_test' in data\.npz has no samples/);
    });
  });

  it('leaves no tensors after a rejection', async () => {
    const arrays = await readArrays({ x_test: FEATURES, y_test: INDICES, x_train: FEATURES, y_train: { code: 'i8', shape: [3], values: [0, 9, 1] } });
    const before = tf.memory().numTensors;
    assert.throws(() => prepareDataset(arrays, DEFAULT_PARAMS, requirements('index'), FILE), /has label 9/);
    assert.equal(tf.memory().numTensors, before);
  });
});
