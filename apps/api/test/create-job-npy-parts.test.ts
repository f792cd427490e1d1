import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Job } from '@centroid/contracts';
import { encodeNpy, encodeNpz } from '@centroid/examples';
import { readNpz } from '@centroid/model-io';
import { MAX_DATASET_BYTES, createApiFixture, type ApiFixture } from './api-fixture.js';
import { createSubmissionChecks } from './submission-checks.js';
import { kerasModel, type PartSpec } from './multipart-body.js';

/** Builds an `.npy` file (format 1.0) from a header dict literal and raw values. */
function buildNpy(header: string, data: Uint8Array): Uint8Array {
  const text = header + ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const bytes = new Uint8Array(10 + text.length + data.length);
  bytes.set([0x93, ...Buffer.from('NUMPY'), 1, 0]);
  new DataView(bytes.buffer).setUint16(8, text.length, true);
  bytes.set(Buffer.from(text, 'latin1'), 10);
  bytes.set(data, 10 + text.length);
  return bytes;
}

function paramsPart(params: unknown): PartSpec {
  return { name: 'params', content: JSON.stringify(params) };
}

function modelPart(): PartSpec {
  return { name: 'model', filename: 'model.h5', content: kerasModel() };
}

/** An `.npy` part of float32 features, 8 per sample, as the fixture model takes. */
function featuresPart(name: string, samples: number, filename = `${name}.npy`): PartSpec {
  const data = Float32Array.from({ length: samples * 8 }, (_, index) => index / 10);
  return { name, filename, content: Buffer.from(encodeNpy({ dtype: '<f4', shape: [samples, 8], data })) };
}

/** Returns an `.npy` part of int64 class indices. */
function labelsPart(name: string, labels: number[], filename = `${name}.npy`): PartSpec {
  const data = BigInt64Array.from(labels, (label) => BigInt(label));
  return { name, filename, content: Buffer.from(encodeNpy({ dtype: '<i8', shape: [labels.length], data })) };
}

describe('POST /v1/jobs with .npy parts', () => {
  let fixture: ApiFixture;

  before(async () => {
    fixture = await createApiFixture();
  });

  after(() => fixture.close());

  const { submit, assertProblem } = createSubmissionChecks(() => fixture);

  it('packs four parts into one NPZ', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8 }),
      modelPart(),
      featuresPart('x_train', 5),
      labelsPart('y_train', [0, 1, 2, 1, 0]),
      featuresPart('x_test', 3),
      labelsPart('y_test', [2, 2, 1]),
    ]);

    assert.equal(response.statusCode, 202, response.body);
    const job = response.json<Job>();
    assert.equal(job.inputs.dataset?.filename, '.npy parts x_train (x_train.npy), y_train (y_train.npy), x_test (x_test.npy), y_test (y_test.npy)');
    const queued = await fixture.queue.getData(job.id);
    const datasetPath = path.join(fixture.dataDir, 'uploads', job.id, 'dataset.npz');
    assert.equal(queued?.dataset?.path, datasetPath);
    assert.deepEqual((await readdir(path.join(fixture.dataDir, 'uploads', job.id))).sort(), ['dataset.npz', 'model.h5']);

    const arrays = await readNpz(datasetPath);
    assert.deepEqual([...arrays.keys()], ['x_train', 'y_train', 'x_test', 'y_test']);
    assert.deepEqual(arrays.get('x_train')?.shape, [5, 8]);
    assert.equal(arrays.get('x_train')?.data[9], Math.fround(0.9));
    assert.deepEqual(Array.from(arrays.get('y_test')?.data ?? []), [2, 2, 1]);
  });

  it('names members after the dataset params', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 0 }, dataset: { x_test: 'images', y_test: 'labels' } }),
      modelPart(),
      labelsPart('y_test', [1, 0]),
      featuresPart('x_test', 2),
    ]);

    assert.equal(response.statusCode, 202, response.body);
    const arrays = await readNpz(path.join(fixture.dataDir, 'uploads', response.json<Job>().id, 'dataset.npz'));
    assert.deepEqual([...arrays.keys()], ['labels', 'images']);
  });

  it('accepts other dtypes and layouts', async () => {
    // Big-endian float64 in Fortran order for x, bool class indices for y.
    const x = buildNpy("{'descr': '>f8', 'fortran_order': True, 'shape': (2, 8), }", new Uint8Array(128));
    const y = buildNpy("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", Uint8Array.from([1, 0]));
    const response = await submit([
      paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 0 } }),
      modelPart(),
      { name: 'x_test', filename: 'x.npy', content: Buffer.from(x) },
      { name: 'y_test', filename: 'y.npy', content: Buffer.from(y) },
    ]);

    assert.equal(response.statusCode, 202, response.body);
    const arrays = await readNpz(path.join(fixture.dataDir, 'uploads', response.json<Job>().id, 'dataset.npz'));
    assert.equal(arrays.get('x_test')?.dtype, 'float64');
    assert.deepEqual(Array.from(arrays.get('y_test')?.data ?? []), [1, 0]);
  });

  it('rejects an unsupported dtype', async () => {
    const x = buildNpy("{'descr': '<c8', 'fortran_order': False, 'shape': (2, 8), }", new Uint8Array(128));
    const response = await submit([
      paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 0 } }),
      modelPart(),
      { name: 'x_test', filename: 'complex.npy', content: Buffer.from(x) },
      labelsPart('y_test', [1, 0]),
    ]);

    const problem = await assertProblem(response, 422, 'DATASET_INVALID', 'x_test');
    assert.match(problem.detail, /complex\.npy: array "x_test" has dtype "<c8", which is not supported/);
  });

  it('rejects an NPZ and .npy parts together', async () => {
    const npz = Buffer.from(encodeNpz({ x_test: { dtype: '<f4', shape: [1, 8], data: new Float32Array(8) } }));
    const response = await submit([
      paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 0 } }),
      modelPart(),
      { name: 'dataset', filename: 'data.npz', content: npz },
      featuresPart('x_test', 2),
      labelsPart('y_test', [1, 0]),
    ]);

    const problem = await assertProblem(response, 400, 'REQUEST_INVALID', 'x_test');
    assert.match(problem.detail, /send either one NPZ as the part 'dataset' or the \.npy parts x_train, y_train, x_test, y_test, not both/);
  });

  it('rejects a dataset part after .npy parts', async () => {
    const npz = Buffer.from(encodeNpz({ x_test: { dtype: '<f4', shape: [1, 8], data: new Float32Array(8) } }));
    const response = await submit([
      paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 0 } }),
      modelPart(),
      featuresPart('x_test', 2),
      { name: 'dataset', filename: 'data.npz', content: npz },
    ]);

    await assertProblem(response, 400, 'REQUEST_INVALID', 'dataset');
  });

  it('rejects missing test labels', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 0 } }), modelPart(), featuresPart('x_test', 2)]);

    const problem = await assertProblem(response, 400, 'UPLOAD_MISSING', 'y_test');
    assert.match(problem.detail, /^Missing multipart part 'y_test'/);
  });

  it('requires training parts when fine-tuning', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 2 } }),
      modelPart(),
      featuresPart('x_test', 2),
      labelsPart('y_test', [1, 0]),
    ]);

    const problem = await assertProblem(response, 400, 'UPLOAD_MISSING', 'x_train');
    assert.match(problem.detail, /fine_tune\.epochs is above 0 \(it is 2\)/);
  });

  it('rejects a part that is not .npy', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 0 } }),
      modelPart(),
      { name: 'x_test', filename: 'images.csv', content: 'a,b\n1,2\n' },
      labelsPart('y_test', [1, 0]),
    ]);

    const problem = await assertProblem(response, 422, 'DATASET_INVALID', 'x_test');
    assert.equal(problem.file, 'images.csv');
    assert.match(problem.detail, /images\.csv: array "x_test" is not an \.npy array/);
  });

  it('rejects a header that claims more data', async () => {
    const truncated = featuresPart('x_test', 4, 'short.npy');
    truncated.content = (truncated.content as Buffer).subarray(0, (truncated.content as Buffer).length - 32);
    const response = await submit([paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 0 } }), modelPart(), truncated, labelsPart('y_test', [1, 0, 2, 2])]);

    const problem = await assertProblem(response, 422, 'DATASET_INVALID', 'x_test');
    assert.match(problem.detail, /short\.npy: array "x_test" has 96 bytes of values, but its header declares shape \(4, 8\) of float32, which needs 128 bytes/);
  });

  it('rejects labels that do not match the samples', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 0 } }),
      modelPart(),
      featuresPart('x_test', 4),
      labelsPart('y_test', [1, 0, 2]),
    ]);

    const problem = await assertProblem(response, 422, 'DATASET_SHAPE_MISMATCH', 'dataset.y_test');
    assert.match(problem.detail, /4 samples in 'x_test' but 3 labels in 'y_test'/);
    assert.match(problem.detail, /\.npy parts x_test \(x_test\.npy\), y_test \(y_test\.npy\)/);
    assert.doesNotMatch(problem.detail, /dataset\.npz/);
    assert.equal(problem.file, '.npy parts x_test (x_test.npy), y_test (y_test.npy)');
  });

  it('rejects two parts with one array name', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 0 }, dataset: { x_test: 'data', y_test: 'data' } }),
      modelPart(),
      featuresPart('x_test', 2),
      labelsPart('y_test', [1, 0]),
    ]);

    const problem = await assertProblem(response, 422, 'PARAMS_INVALID', 'dataset.y_test');
    assert.match(problem.detail, /dataset\.y_test and dataset\.x_test both name the array 'data'/);
  });

  it('rejects a repeated part', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 0 } }),
      modelPart(),
      featuresPart('x_test', 2),
      featuresPart('x_test', 2),
      labelsPart('y_test', [1, 0]),
    ]);

    await assertProblem(response, 400, 'REQUEST_INVALID', 'x_test');
  });

  it('rejects parts over the dataset limit', async () => {
    // Each part is under the limit, but the two together are over it.
    const samples = Math.floor(MAX_DATASET_BYTES / 2 / 32) + 10;
    const response = await submit([
      paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 0 } }),
      modelPart(),
      featuresPart('x_test', samples),
      featuresPart('y_test', samples),
    ]);

    const problem = await assertProblem(response, 413, 'UPLOAD_TOO_LARGE', 'y_test');
    assert.match(problem.detail, /The \.npy parts x_test \(x_test\.npy\), y_test \(y_test\.npy\) together are larger than the dataset limit of 65536 bytes/);
    assert.match(problem.detail, /passed in part y_test \(y_test\.npy\)/);
  });

  it('names the first part over the limit', async () => {
    // The first part alone is over the limit: in the packed NPZ (its .npy file fits, but not
    // with its zip header), and then as a part larger than the request's file size limit.
    for (const samples of [Math.floor((MAX_DATASET_BYTES - 128) / 32) - 1, Math.floor(MAX_DATASET_BYTES / 32) + 10]) {
      const response = await submit([
        paramsPart({ number_of_clusters: 8, fine_tune: { epochs: 1 } }),
        modelPart(),
        featuresPart('x_train', samples, 'big.npy'),
        labelsPart('y_train', [0, 1]),
        featuresPart('x_test', 2),
        labelsPart('y_test', [1, 0]),
      ]);

      const problem = await assertProblem(response, 413, 'UPLOAD_TOO_LARGE', 'x_train');
      assert.match(problem.detail, /passed in part x_train \(big\.npy\)/);
    }
  });
});
