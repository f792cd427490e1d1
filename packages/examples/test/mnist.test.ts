import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { unzipSync } from 'fflate';
import {
  encodeNpz,
  ensureMnistNpz,
  exampleModelPath,
  parseIdx,
  venvPythonPath,
  writeMnistNpz,
} from '../src/index.js';

interface ParsedNpy {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  dataOffset: number;
  data: Uint8Array;
}

// Parses a .npy header independently of the encoder, so the test can fail on it.
function parseNpy(bytes: Uint8Array): ParsedNpy {
  assert.deepEqual([...bytes.subarray(0, 6)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59], 'npy magic');
  assert.equal(bytes[6], 1, 'npy major version');
  assert.equal(bytes[7], 0, 'npy minor version');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
  assert.ok(header.endsWith('\n'), 'npy header ends with a newline');

  const descr = /'descr': '([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order': (True|False)/.exec(header)?.[1];
  const shapeText = /'shape': \(([^)]*)\)/.exec(header)?.[1];
  assert.ok(descr !== undefined, `npy header has no descr: ${header}`);
  assert.ok(fortran !== undefined, `npy header has no fortran_order: ${header}`);
  assert.ok(shapeText !== undefined, `npy header has no shape: ${header}`);
  const shape = shapeText
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map(Number);

  const dataOffset = 10 + headerLength;
  return { descr, fortranOrder: fortran === 'True', shape, dataOffset, data: bytes.subarray(dataOffset) };
}

const EXPECTED_ARRAYS = {
  x_train: [60000, 28, 28, 1],
  y_train: [60000],
  x_test: [10000, 28, 28, 1],
  y_test: [10000],
};

describe('MNIST NPZ', () => {
  let dir = '';
  let npzPath = '';
  let members: Record<string, Uint8Array> = {};

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'centroid-mnist-'));
    npzPath = join(dir, 'written.npz');
    await writeMnistNpz(npzPath);
    members = unzipSync(await readFile(npzPath));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('contains the four arrays', () => {
    const expectedNames = Object.keys(EXPECTED_ARRAYS).map((name) => `${name}.npy`);
    assert.deepEqual(Object.keys(members).sort(), expectedNames.sort());
  });

  it('stores uint8 arrays with expected shapes', () => {
    for (const [name, shape] of Object.entries(EXPECTED_ARRAYS)) {
      const member = members[`${name}.npy`];
      assert.ok(member, `${name}.npy is missing`);
      const npy = parseNpy(member);
      assert.equal(npy.descr, '|u1', `${name} dtype`);
      assert.equal(npy.fortranOrder, false, `${name} fortran_order`);
      assert.deepEqual(npy.shape, shape, `${name} shape`);
      assert.equal(npy.data.length, shape.reduce((a, b) => a * b, 1), `${name} data length`);
      assert.equal(npy.dataOffset % 64, 0, `${name} data is 64-byte aligned`);
    }
  });

  it('keeps first labels as class indices', () => {
    const yTrain = parseNpy(members['y_train.npy']!).data;
    const yTest = parseNpy(members['y_test.npy']!).data;
    assert.deepEqual([...yTrain.subarray(0, 10)], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert.deepEqual([...yTest.subarray(0, 10)], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    assert.ok(yTrain.every((label) => label <= 9), 'every training label is 0 to 9');
    assert.ok(yTest.every((label) => label <= 9), 'every test label is 0 to 9');
  });

  it('keeps raw pixel values 0 to 255', () => {
    const xTrain = parseNpy(members['x_train.npy']!).data;
    // The first training image (a 5) has its top row blank and ink in the middle.
    const firstImage = xTrain.subarray(0, 28 * 28);
    assert.ok(firstImage.subarray(0, 28).every((pixel) => pixel === 0), 'top row is blank');
    assert.equal(Math.max(...firstImage), 255);
  });

  it('loads in numpy', (context) => {
    const python = venvPythonPath();
    if (python === undefined) {
      context.skip('no .venv at the repository root; run packages/examples/python/setup-venv.sh');
      return;
    }
    const script = [
      'import json, sys, numpy as np',
      'with np.load(sys.argv[1]) as f:',
      '    out = {k: {"dtype": str(f[k].dtype), "shape": list(f[k].shape)} for k in f.files}',
      '    out["first_train_labels"] = f["y_train"][:10].tolist()',
      '    out["first_test_labels"] = f["y_test"][:10].tolist()',
      '    out["x_train_sum"] = int(f["x_train"].sum(dtype=np.int64))',
      'print(json.dumps(out))',
    ].join('\n');
    const result = JSON.parse(execFileSync(python, ['-c', script, npzPath], { encoding: 'utf8' }));

    for (const [name, shape] of Object.entries(EXPECTED_ARRAYS)) {
      assert.equal(result[name].dtype, 'uint8', `${name} dtype in numpy`);
      assert.deepEqual(result[name].shape, shape, `${name} shape in numpy`);
    }
    assert.deepEqual(result.first_train_labels, [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert.deepEqual(result.first_test_labels, [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);

    const xTrain = parseNpy(members['x_train.npy']!).data;
    let sum = 0;
    for (const pixel of xTrain) {
      sum += pixel;
    }
    assert.equal(result.x_train_sum, sum, 'numpy reads the same pixels');
  });
});

describe('ensureMnistNpz', () => {
  let dir = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'centroid-mnist-ensure-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes mnist.npz when missing', async () => {
    const target = join(dir, 'nested', 'cache');
    const path = await ensureMnistNpz(target);
    assert.equal(path, join(target, 'mnist.npz'));
    assert.ok((await stat(path)).size > 50_000_000, 'the NPZ holds all of MNIST');
    assert.deepEqual(await readdir(target), ['mnist.npz'], 'no temporary file is left behind');
  });

  it('keeps an existing file', async () => {
    const target = join(dir, 'existing');
    await ensureMnistNpz(target);
    const path = join(target, 'mnist.npz');
    await writeFile(path, 'placeholder');
    assert.equal(await ensureMnistNpz(target), path);
    assert.equal(await readFile(path, 'utf8'), 'placeholder');
  });
});

describe('encodeNpz', () => {
  it('writes float32 and int64 arrays numpy reads', async (context) => {
    const npz = encodeNpz(
      {
        floats: { dtype: '<f4', shape: [2, 3], data: new Float32Array([0.5, -1, 2.25, 3, 4, 1e-7]) },
        longs: { dtype: '<i8', shape: [3], data: new BigInt64Array([0n, -2n, 9007199254740993n]) },
      },
      6,
    );
    const members = unzipSync(npz);
    const floats = parseNpy(members['floats.npy']!);
    assert.equal(floats.descr, '<f4');
    assert.deepEqual(floats.shape, [2, 3]);
    const longs = parseNpy(members['longs.npy']!);
    assert.equal(longs.descr, '<i8');
    assert.deepEqual(longs.shape, [3]);

    const python = venvPythonPath();
    if (python === undefined) {
      context.skip('no .venv at the repository root; run packages/examples/python/setup-venv.sh');
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'centroid-npz-'));
    try {
      const path = join(dir, 'mixed.npz');
      await writeFile(path, npz);
      const script = [
        'import json, sys, numpy as np',
        'f = np.load(sys.argv[1])',
        'print(json.dumps({"floats": f["floats"].tolist(), "floats_dtype": str(f["floats"].dtype),',
        '  "longs": [str(v) for v in f["longs"]], "longs_dtype": str(f["longs"].dtype)}))',
      ].join('\n');
      const result = JSON.parse(execFileSync(python, ['-c', script, path], { encoding: 'utf8' }));
      assert.equal(result.floats_dtype, 'float32');
      assert.deepEqual(result.floats, [[0.5, -1, 2.25], [3, 4, Math.fround(1e-7)]]);
      assert.equal(result.longs_dtype, 'int64');
      assert.deepEqual(result.longs, ['0', '-2', '9007199254740993']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects data that does not fill the shape', () => {
    assert.throws(
      () => encodeNpz({ bad: { dtype: '|u1', shape: [2, 2], data: new Uint8Array(3) } }),
      /shape \[2, 2\] contains 4 elements but data has 3/,
    );
  });
});

describe('parseIdx', () => {
  it('reads a small label file', () => {
    const bytes = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]);
    const idx = parseIdx(bytes);
    assert.deepEqual(idx.shape, [3]);
    assert.deepEqual([...idx.data], [7, 2, 1]);
  });

  it('reads a gzipped label file', () => {
    const bytes = gzipSync(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 4, 9]));
    const idx = parseIdx(bytes);
    assert.deepEqual(idx.shape, [2]);
    assert.deepEqual([...idx.data], [4, 9]);
  });

  it('rejects truncated data', () => {
    const bytes = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 4, 7, 2, 1]);
    assert.throws(() => parseIdx(bytes, 'labels'), /labels: header declares shape \[4\] \(4 bytes\) but 3 bytes follow/);
  });

  it('rejects non-byte element types', () => {
    const bytes = new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
    assert.throws(() => parseIdx(bytes), /unsupported IDX element type 0xd/);
  });
});

describe('exampleModelPath', () => {
  it('points to the bundled model', () => {
    const path = exampleModelPath();
    assert.ok(path.endsWith('/packages/examples/models/mnist-cnn.h5'), path);
    assert.ok(existsSync(path), `${path} is missing; run packages/examples/python/train_example.py`);
  });
});
