import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import h5wasm from 'h5wasm';

import { float32ToFloat16 } from '../src/float16.js';
import { readDatasetBytes, readDatasetLayout } from '../src/hdf5/dataset-bytes.js';
import { closeQuietly, createMemfsPath, loadH5wasm, openH5File, readMemfsFile, removeMemfsFile, writeIntoMemfs } from '../src/hdf5/h5wasm.js';
import { lookup3Checksum } from '../src/hdf5/lookup3.js';
import { createFloat16Placeholder, narrowDatasetsToFloat16 } from '../src/keras-h5/float16-datasets.js';
import { fixture, pythonSkipReason, runPython, temporaryFolder } from './helpers.js';

import type { Dataset, Group, H5File } from '../src/hdf5/h5wasm.js';
import type { Float16Dataset } from '../src/keras-h5/float16-datasets.js';

/** Values that cover float16 rounding, subnormals, signed zero, overflow and the special values. */
const EDGE_VALUES = Float32Array.of(1.5, -2, 0, -0, 65504, 2 ** -14, 2 ** -24, 0.1, 1e6, -1e6, Infinity, -Infinity, NaN);

interface CreatedFile {
  bytes: Uint8Array;
  datasets: Float16Dataset[];
}

/**
 * Creates an HDF5 file with h5wasm, as the writers do, and returns its bytes with the
 * placeholders that `build` created. `libver` overrides h5wasm's default version bounds.
 */
async function createFile(build: (file: H5File) => Float16Dataset[], libver?: 'earliest'): Promise<CreatedFile> {
  await loadH5wasm();
  const memfsPath = createMemfsPath();
  const file = libver === undefined ? openH5File(memfsPath, 'w') : new h5wasm.File(memfsPath, 'w', { libver: [libver, 'latest'] });
  try {
    const datasets = build(file);
    file.close();
    return { bytes: readMemfsFile(memfsPath), datasets };
  } catch (error) {
    closeQuietly(file);
    throw error;
  } finally {
    removeMemfsFile(memfsPath);
  }
}

/** Opens `bytes` with h5wasm and passes the file to `read`. */
async function withBytes<T>(bytes: Uint8Array, read: (file: H5File) => T): Promise<T> {
  const memfsPath = await writeIntoMemfs(bytes);
  const file = openH5File(memfsPath, 'r');
  try {
    return read(file);
  } finally {
    closeQuietly(file);
    removeMemfsFile(memfsPath);
  }
}

function toHex(bits: Uint16Array): string {
  return Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength).toString('hex');
}

/**
 * Creates float16 placeholders of several shapes, one with enough attributes to need a
 * continuation chunk, and a float32 dataset that stays as it is.
 */
function buildMixedFile(file: H5File): Float16Dataset[] {
  const group = file.create_group('weights');
  const datasets = [
    createFloat16Placeholder(group, 'matrix', [3, 5], Float32Array.from({ length: 15 }, (_, index) => index / 7 - 1)),
    createFloat16Placeholder(group, 'edges', [EDGE_VALUES.length], EDGE_VALUES),
    createFloat16Placeholder(group, 'scalar', [], Float32Array.of(-0.333)),
    createFloat16Placeholder(group, 'empty', [0, 4], new Float32Array(0)),
    createFloat16Placeholder(group, 'annotated', [2, 2], Float32Array.of(1, 2, 3, 4)),
  ];
  const annotated = group.get('annotated') as Dataset;
  for (let index = 0; index < 6; index++) {
    annotated.create_attribute(`note_${index}`, `attribute ${index} `.repeat(8));
  }
  group.create_dataset({ name: 'float32', data: Float32Array.of(0.1, 0.2, 0.3), shape: [3] });
  return datasets;
}

describe('lookup3Checksum', () => {
  test('known hashlittle values', () => {
    const text = new TextEncoder().encode('Four score and seven years ago');
    assert.equal(lookup3Checksum(new Uint8Array(0)), 0xdeadbeef);
    assert.equal(lookup3Checksum(text), 0x17770551);
    assert.equal(lookup3Checksum(text, 1), 0xcd628161);
  });

  test('matches an h5wasm superblock checksum', async () => {
    const { bytes } = await createFile(() => []);
    assert.equal(bytes[8], 2, 'h5wasm wrote a superblock other than version 2');
    const stored = new DataView(bytes.buffer, bytes.byteOffset).getUint32(44, true);
    assert.equal(lookup3Checksum(bytes.subarray(0, 44)), stored);
  });
});

describe('narrowing datasets to float16', () => {
  test('h5wasm reads the narrowed values', async () => {
    const { bytes, datasets } = await createFile(buildMixedFile);
    assert.ok(Buffer.from(bytes).includes('OCHK'), 'the attributes did not move part of a header into a continuation chunk');
    narrowDatasetsToFloat16(bytes, datasets);

    await withBytes(bytes, (file) => {
      for (const dataset of datasets) {
        const layout = readDatasetLayout(file, dataset.path);
        assert.equal(layout.metadata.type, 1, `${dataset.path} type class`);
        assert.equal(layout.elementSize, 2, `${dataset.path} element size`);
        assert.deepEqual(layout.shape, dataset.shape, `${dataset.path} shape`);
        assert.equal(Buffer.from(readDatasetBytes(file, dataset.path, layout)).toString('hex'), toHex(dataset.bits), `${dataset.path} values`);
      }
      const untouched = readDatasetBytes(file, '/weights/float32');
      assert.deepEqual(new Float32Array(untouched.buffer, untouched.byteOffset, 3), Float32Array.of(0.1, 0.2, 0.3));
    });
  });

  test('placeholders round to float16', async () => {
    const { datasets } = await createFile(buildMixedFile);
    const edges = datasets.find((dataset) => dataset.path === '/weights/edges');
    assert.deepEqual(edges?.bits, float32ToFloat16(EDGE_VALUES));
  });

  test('h5py reads float16 values', { skip: pythonSkipReason() }, async (t) => {
    const { bytes, datasets } = await createFile(buildMixedFile);
    narrowDatasetsToFloat16(bytes, datasets);
    const path = join(await temporaryFolder(t), 'narrowed.h5');
    await writeFile(path, bytes);

    const read = JSON.parse(await runPython('read_datasets.py', [path]))[path] as Record<string, { dtype: string; shape: number[]; hex: string; attributes: string[] }>;
    for (const dataset of datasets) {
      assert.equal(read[dataset.path]?.dtype, '<f2', `${dataset.path} dtype`);
      assert.deepEqual(read[dataset.path]?.shape, dataset.shape, `${dataset.path} shape`);
      assert.equal(read[dataset.path]?.hex, toHex(dataset.bits), `${dataset.path} values`);
    }
    assert.equal(read['/weights/annotated']?.attributes.length, 6);
    assert.equal(read['/weights/float32']?.dtype, '<f4');
  });
});

describe('narrowing rejects unexpected files', () => {
  /** Asserts that narrowing raises an error matching `pattern` and leaves `bytes` unchanged. */
  function assertRejected(bytes: Uint8Array, datasets: Float16Dataset[], pattern: RegExp): void {
    const before = Uint8Array.from(bytes);
    assert.throws(() => narrowDatasetsToFloat16(bytes, datasets), pattern);
    assert.ok(Buffer.from(bytes).equals(before), 'the bytes changed although narrowing failed');
  }

  test('float64 dataset', async () => {
    // The valid placeholder comes first, so the check also shows that it stays float32.
    const { bytes, datasets } = await createFile((file) => {
      const placeholder = createFloat16Placeholder(file, 'good', [2], Float32Array.of(1, 2));
      file.create_dataset({ name: 'wide', data: Float64Array.of(1, 2), shape: [2] });
      return [placeholder, { path: '/wide', headerAddress: referenceAddress(file, 'wide'), shape: [2], bits: float32ToFloat16(Float32Array.of(1, 2)) }];
    });
    assertRejected(bytes, datasets, /cannot narrow \/wide to float16: its datatype has class 1 and 8 bytes per element; expected little-endian IEEE float32/);
  });

  test('compressed dataset', async () => {
    const { bytes, datasets } = await createFile((file) => {
      file.create_dataset({ name: 'packed', data: Float32Array.of(1, 2, 3, 4), shape: [4], chunks: [2], compression: 'gzip' });
      return [{ path: '/packed', headerAddress: referenceAddress(file, 'packed'), shape: [4], bits: float32ToFloat16(Float32Array.of(1, 2, 3, 4)) }];
    });
    assertRejected(bytes, datasets, /cannot narrow \/packed to float16: its object header has a filter pipeline message/);
  });

  test('address of a group header', async () => {
    const { bytes, datasets } = await createFile((file) => {
      const placeholder = createFloat16Placeholder(file.create_group('layer'), 'kernel', [2], Float32Array.of(1, 2));
      return [{ ...placeholder, headerAddress: referenceAddress(file, 'layer') }];
    });
    assertRejected(bytes, datasets, /cannot narrow \/layer\/kernel to float16: its object header has 0 dataspace messages; expected exactly 1/);
  });

  test('address inside a header', async () => {
    const { bytes, datasets } = await createFile((file) => [createFloat16Placeholder(file, 'kernel', [2], Float32Array.of(1, 2))]);
    const shifted = datasets.map((dataset) => ({ ...dataset, headerAddress: dataset.headerAddress + 8 }));
    assertRejected(bytes, shifted, /no version 2 object header \("OHDR"\) was found at address \d+/);
  });

  test('damaged header checksum', async () => {
    const { bytes, datasets } = await createFile((file) => [createFloat16Placeholder(file, 'kernel', [2], Float32Array.of(1, 2))]);
    // The first 24 bytes of the header are its prefix, so byte 40 is message data.
    const damaged = (datasets[0] as Float16Dataset).headerAddress + 40;
    bytes[damaged] = (bytes[damaged] as number) ^ 0xff;
    assertRejected(bytes, datasets, /cannot narrow \/kernel to float16: the checksum of the object header chunk at file offset \d+ does not match its contents/);
  });

  test('shape differs from the plan', async () => {
    const { bytes, datasets } = await createFile((file) => [createFloat16Placeholder(file, 'kernel', [2, 3], new Float32Array(6))]);
    const transposed = datasets.map((dataset) => ({ ...dataset, shape: [3, 2] }));
    assertRejected(bytes, transposed, /its dataspace has shape \[2, 3\]; expected \[3, 2\]/);
  });

  test('value count differs from the shape', async () => {
    const { bytes, datasets } = await createFile((file) => [createFloat16Placeholder(file, 'kernel', [2, 3], new Float32Array(6))]);
    const short = datasets.map((dataset) => ({ ...dataset, bits: dataset.bits.subarray(0, 5) }));
    assertRejected(bytes, short, /5 values were given for shape \[2, 3\], which has 6 elements/);
  });

  test('version 0 superblock', async () => {
    const { bytes, datasets } = await createFile((file) => [createFloat16Placeholder(file, 'kernel', [2], Float32Array.of(1, 2))], 'earliest');
    assertRejected(bytes, datasets, /the superblock has version 0; expected version 2 or 3/);
  });

  test('file written by h5py', async () => {
    const bytes = new Uint8Array(await readFile(fixture('small.h5')));
    assertRejected(bytes, [{ path: '/x', headerAddress: 96, shape: [1], bits: Uint16Array.of(0) }], /the superblock has version 0; expected version 2 or 3/);
  });

  test('not an HDF5 file', () => {
    const bytes = new TextEncoder().encode('PK\u0003\u0004 this is a zip file, not HDF5');
    assertRejected(bytes, [], /the file does not start with the HDF5 signature/);
  });
});

/** Returns the object header address of `name` in `file`, as an HDF5 object reference stores it. */
function referenceAddress(file: H5File, name: string): number {
  const entity = file.get(name) as Group | Dataset;
  return Number(new DataView(Uint8Array.from(entity.create_reference().ref_data).buffer).getBigUint64(0, true));
}
