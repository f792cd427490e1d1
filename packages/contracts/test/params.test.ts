import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JobParamsSchema, ParamsError, parseOrThrow } from '../src/index.js';

describe('job parameters', () => {
  it('fills in the defaults', () => {
    const params = parseOrThrow(JobParamsSchema, { number_of_clusters: 14 });
    assert.equal(params.cluster_centroids_init, 'kmeans_plus_plus');
    assert.equal(params.fine_tune.epochs, 1);
    assert.equal(params.fine_tune.batch_size, 32);
    assert.equal(params.fine_tune.learning_rate, 1e-5);
    assert.equal(params.fine_tune.validation_split, 0);
    assert.equal(params.dataset.x_train, 'x_train');
    assert.equal(params.dataset.input_scale, 1);
    assert.equal(params.webhook, undefined);
  });

  it('rejects an array name over 256 characters', () => {
    assert.equal(parseOrThrow(JobParamsSchema, { number_of_clusters: 8, dataset: { x_test: 'x'.repeat(256) } }).dataset.x_test.length, 256);
    assert.throws(
      () => parseOrThrow(JobParamsSchema, { number_of_clusters: 8, dataset: { x_test: 'x'.repeat(257) } }),
      (error: unknown) => error instanceof ParamsError && error.location.field === 'dataset.x_test' && /256/.test(error.message),
    );
  });

  it('accepts upper-case initialisation names', () => {
    const params = parseOrThrow(JobParamsSchema, { number_of_clusters: 8, cluster_centroids_init: 'DENSITY_BASED' });
    assert.equal(params.cluster_centroids_init, 'density_based');
  });

  for (const clusters of [1, 65537, 1e7, 2.5]) {
    it(`rejects number_of_clusters ${clusters}`, () => {
      assert.throws(
        () => parseOrThrow(JobParamsSchema, { number_of_clusters: clusters }),
        (error: unknown) => error instanceof ParamsError && error.location.field === 'number_of_clusters',
      );
    });
  }

  it('rejects an unknown initialisation name', () => {
    assert.throws(
      () => parseOrThrow(JobParamsSchema, { number_of_clusters: 8, cluster_centroids_init: 'kmeans_minus' }),
      (error: unknown) => error instanceof ParamsError && error.location.field === 'cluster_centroids_init',
    );
  });

  it('rejects unknown fields at any depth', () => {
    assert.throws(
      () => parseOrThrow(JobParamsSchema, { number_of_clusters: 8, fine_tune: { epoch: 2 } }),
      (error: unknown) =>
        error instanceof ParamsError && error.location.field === 'fine_tune.epoch' && /unknown field/.test(error.message),
    );
    assert.throws(
      () => parseOrThrow(JobParamsSchema, { number_of_clusters: 8, clusters: 3 }),
      (error: unknown) => error instanceof ParamsError && error.location.field === 'clusters',
    );
  });

  it('gives one error for a huge seed', () => {
    assert.throws(
      () => parseOrThrow(JobParamsSchema, { number_of_clusters: 8, fine_tune: { seed: 1e300 } }),
      (error: unknown) => {
        assert.ok(error instanceof ParamsError);
        assert.deepEqual(error.issues, [{ field: 'fine_tune.seed', message: 'Too big: expected number to be <=2147483647' }]);
        return true;
      },
    );
  });

  it('still rejects a fractional seed', () => {
    assert.throws(
      () => parseOrThrow(JobParamsSchema, { number_of_clusters: 8, fine_tune: { seed: 1.5 } }),
      (error: unknown) => error instanceof ParamsError && error.location.field === 'fine_tune.seed' && /expected int/.test(error.message),
    );
  });

  it('requires number_of_clusters', () => {
    assert.throws(
      () => parseOrThrow(JobParamsSchema, {}),
      (error: unknown) => error instanceof ParamsError && error.location.field === 'number_of_clusters',
    );
  });

  it('names a missing value as missing', () => {
    assert.throws(
      () => parseOrThrow(JobParamsSchema, {}),
      (error: unknown) => {
        assert.ok(error instanceof ParamsError);
        assert.deepEqual(error.issues, [{ field: 'number_of_clusters', message: 'Missing required value: expected number.' }]);
        return true;
      },
    );
  });

  it('keeps the type error for a wrong type', () => {
    assert.throws(
      () => parseOrThrow(JobParamsSchema, { number_of_clusters: '8' }),
      (error: unknown) => error instanceof ParamsError && /expected number, received string/.test(error.message),
    );
  });

  it('defaults output_format to same', () => {
    const params = parseOrThrow(JobParamsSchema, { number_of_clusters: 8 });
    assert.equal(params.output_format, 'same');
  });

  it('accepts every output_format', () => {
    for (const format of ['same', 'keras_h5', 'keras', 'tfjs']) {
      const params = parseOrThrow(JobParamsSchema, { number_of_clusters: 8, output_format: format });
      assert.equal(params.output_format, format);
    }
  });

  it('rejects an unknown output_format', () => {
    assert.throws(
      () => parseOrThrow(JobParamsSchema, { number_of_clusters: 8, output_format: 'onnx' }),
      (error: unknown) => error instanceof ParamsError && error.location.field === 'output_format',
    );
  });
});
