import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Job } from '@centroid/contracts';
import { readKerasArchive, readModel, unpackTfjsModel, writeTfjsModel } from '@centroid/model-io';
import { createApiFixture, type ApiFixture } from './api-fixture.js';
import { createSubmissionChecks } from './submission-checks.js';
import type { PartSpec } from './multipart-body.js';

// Keras 3 .keras archives from model-io's fixtures: convolution and Dense layers (30 KB), and Dense layers in float16 (15 KB).
const CONVOLUTIONAL = fileURLToPath(new URL('../../../packages/model-io/test/fixtures/archive-convolutional.keras', import.meta.url));
const FLOAT16 = fileURLToPath(new URL('../../../packages/model-io/test/fixtures/archive-float16.keras', import.meta.url));
// A Keras 2 .h5 model whose layer names contain '/', which Keras 3 does not allow (25 KB).
const SLASH_NAMES = fileURLToPath(new URL('../../../packages/examples/fixtures/formats/keras2/slash-names.h5', import.meta.url));

function paramsPart(params: unknown): PartSpec {
  return { name: 'params', content: JSON.stringify(params) };
}

describe('POST /v1/jobs with .keras and TF.js models', () => {
  let fixture: ApiFixture;
  let workDir: string;
  /** A zipped TF.js model and the same model unpacked into a folder. */
  let tfjsZip: string;
  let tfjsFolder: string;

  before(async () => {
    fixture = await createApiFixture();
    workDir = await mkdtemp(path.join(os.tmpdir(), 'centroid-api-formats-'));
    tfjsZip = path.join(workDir, 'model.tfjs.zip');
    await writeTfjsModel(await readKerasArchive(FLOAT16), tfjsZip, new Map());
    tfjsFolder = path.join(workDir, 'tfjs');
    await unpackTfjsModel(tfjsZip, tfjsFolder);
  });

  after(async () => {
    await fixture.close();
    await rm(workDir, { recursive: true, force: true });
  });

  const { submit, assertProblem } = createSubmissionChecks(() => fixture);

  async function shardParts(): Promise<PartSpec[]> {
    const modelJson = JSON.parse(await readFile(path.join(tfjsFolder, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
    const shards = modelJson.weightsManifest.flatMap((group) => group.paths);
    return Promise.all(shards.map(async (shard) => ({ name: 'model_weights', filename: shard, content: await readFile(path.join(tfjsFolder, shard)) })));
  }

  async function modelJsonPart(): Promise<PartSpec> {
    return { name: 'model', filename: 'model.json', contentType: 'application/json', content: await readFile(path.join(tfjsFolder, 'model.json')) };
  }

  it('accepts a .keras archive', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8 }), { name: 'model', filename: 'convolutional.keras', content: await readFile(CONVOLUTIONAL) }]);
    assert.equal(response.statusCode, 202, response.body);
    assert.equal(response.json<Job>().inputs.model.filename, 'convolutional.keras');
  });

  it('accepts a zipped TF.js model', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8 }), { name: 'model', filename: 'model.tfjs.zip', content: await readFile(tfjsZip) }]);
    assert.equal(response.statusCode, 202, response.body);
  });

  it('packs model.json and shard parts into one zip', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8, output_format: 'tfjs' }), await modelJsonPart(), ...(await shardParts())]);

    assert.equal(response.statusCode, 202, response.body);
    const job = response.json<Job>();
    const shardNames = (await shardParts()).map((shard) => shard.filename).join(', ');
    assert.equal(job.inputs.model.filename, `TF.js parts model (model.json), model_weights (${shardNames})`);
    const queued = await fixture.queue.getData(job.id);
    const stored = await readModel(queued?.model.path as string);
    assert.equal(stored.format, 'tfjs');
    assert.deepEqual(
      stored.weights.map((weight) => weight.dtype),
      ['float16', 'float16', 'float16', 'float16'],
    );
  });

  it('rejects shards without model.json', async () => {
    const response = await submit([paramsPart({ number_of_clusters: 8 }), ...(await shardParts())]);
    await assertProblem(response, 400, 'UPLOAD_MISSING', 'model');
  });

  it('rejects a shard named model.json', async () => {
    const shard = (await shardParts())[0] as PartSpec;
    const response = await submit([paramsPart({ number_of_clusters: 8 }), await modelJsonPart(), { ...shard, filename: 'model.json' }]);
    await assertProblem(response, 400, 'REQUEST_INVALID', 'model_weights');
  });

  it('rejects a truncated shard', async () => {
    const [shard] = await shardParts();
    const content = (shard as PartSpec).content as Buffer;
    const response = await submit([paramsPart({ number_of_clusters: 8 }), await modelJsonPart(), { ...(shard as PartSpec), content: content.subarray(0, content.length - 8) }]);
    const problem = await assertProblem(response, 422, 'MODEL_INVALID', 'model');
    assert.match(problem.detail, /hold \d+ bytes, but its weights need \d+ bytes/);
  });

  it('lists a shard that model.json does not list', async () => {
    const [shard] = await shardParts();
    const response = await submit([paramsPart({ number_of_clusters: 8 }), await modelJsonPart(), { ...(shard as PartSpec), filename: 'wrongname.bin' }]);
    const problem = await assertProblem(response, 422, 'MODEL_INVALID', 'model');
    assert.match(problem.detail, /^TF\.js parts model \(model\.json\), model_weights \(wrongname\.bin\): /);
    assert.match(problem.detail, new RegExp(`the weight shard "${(shard as PartSpec).filename}" that model\\.json lists is missing`));
    assert.match(problem.detail, /not in its weights manifest: "wrongname\.bin"/);
    assert.doesNotMatch(problem.detail, /model\.tfjs\.zip/);
  });

  it('rejects a shard part model.json does not list', async () => {
    const shards = await shardParts();
    const extra: PartSpec = { name: 'model_weights', filename: 'extra.bin', content: Buffer.alloc(8400) };
    const response = await submit([paramsPart({ number_of_clusters: 8 }), await modelJsonPart(), ...shards, extra]);

    const problem = await assertProblem(response, 422, 'MODEL_INVALID', 'model_weights');
    const listed = shards.map((shard) => JSON.stringify(shard.filename)).join(', ');
    assert.match(problem.detail, /^TF\.js parts model \(model\.json\), model_weights \(.*extra\.bin\): /);
    assert.ok(
      problem.detail.includes(`the model_weights part "extra.bin" is not in model.json's weightsManifest, which lists ${listed}.`),
      problem.detail,
    );
    assert.match(problem.detail, /Send only the shards that model\.json lists\.$/);
  });

  it('rejects model.json that is not JSON', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8 }),
      { name: 'model', filename: 'model.json', content: '{"modelTopology": ' },
      ...(await shardParts()),
    ]);
    const problem = await assertProblem(response, 422, 'MODEL_INVALID', 'model');
    assert.match(problem.detail, /model\.json is not valid UTF-8 JSON/);
  });

  it('rejects a model file mixed with shard parts', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8 }),
      { name: 'model', filename: 'convolutional.keras', content: await readFile(CONVOLUTIONAL) },
      ...(await shardParts()),
    ]);
    const problem = await assertProblem(response, 400, 'REQUEST_INVALID', 'model');
    assert.match(problem.detail, /^The model is sent both as one file \("convolutional\.keras"\) and as TF\.js parts/);
  });

  it('explains a model.json part without .json', async () => {
    const modelJson = { ...(await modelJsonPart()), filename: 'model.txt', contentType: 'text/plain' };
    const orders = { 'model first': [modelJson, ...(await shardParts())], 'shards first': [...(await shardParts()), modelJson] };
    for (const [order, parts] of Object.entries(orders)) {
      const response = await submit([paramsPart({ number_of_clusters: 8 }), ...parts]);

      const problem = await assertProblem(response, 400, 'REQUEST_INVALID', 'model');
      assert.match(problem.detail, /^The part 'model' has the file name "model\.txt", which does not end in \.json, so it is read as one model file/, order);
      assert.match(problem.detail, /give the part 'model' a file name ending in \.json/, order);
      assert.doesNotMatch(problem.detail, /sent both as one file/, order);
    }
  });

  it('accepts float16 weights into .keras', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8, output_format: 'keras' }),
      { name: 'model', filename: 'model.tfjs.zip', content: await readFile(tfjsZip) },
    ]);
    assert.equal(response.statusCode, 202, response.body);
  });

  it('accepts float16 weights into .h5', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8, output_format: 'keras_h5' }),
      { name: 'model', filename: 'half.keras', content: await readFile(FLOAT16) },
    ]);
    assert.equal(response.statusCode, 202, response.body);
  });

  it('accepts a .keras archive returned as .h5', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8, output_format: 'keras_h5' }),
      { name: 'model', filename: 'convolutional.keras', content: await readFile(CONVOLUTIONAL) },
    ]);
    assert.equal(response.statusCode, 202, response.body);
  });

  it('rejects .keras output for untranslatable layers', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 4, output_format: 'keras' }),
      { name: 'model', filename: 'slash-names.h5', content: await readFile(SLASH_NAMES) },
    ]);
    const problem = await assertProblem(response, 422, 'PARAMS_INVALID', 'output_format');
    assert.match(problem.detail, /^output_format "keras": slash-names\.h5 cannot be written as a Keras 3 archive \(\.keras\) because 2 layer\(s\)/);
    assert.match(problem.detail, /layer "block\/dense"/);
  });

  it('rejects a zip that is no model', async () => {
    const response = await submit([
      paramsPart({ number_of_clusters: 8 }),
      { name: 'model', filename: 'model.zip', content: replaceMemberNames(await readFile(FLOAT16)) },
    ]);
    await assertProblem(response, 415, 'MODEL_FORMAT_UNSUPPORTED', 'model');
  });
});

/** Renames the members of a stored zip so that it contains neither config.json nor model.json. */
function replaceMemberNames(bytes: Buffer): Buffer {
  const text = bytes.toString('latin1').replaceAll('config.json', 'configs.jsn').replaceAll('model.weights.h5', 'modelxweights.h5');
  return Buffer.from(text, 'latin1');
}
