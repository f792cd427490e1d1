import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MetricsSchema } from '@centroid/contracts';
import { encodeNpz, fixturePath } from '@centroid/examples';
import { REPOSITORY_ROOT, centroid, hasStackTrace, startCentroid } from './run-cli.js';


describe('centroid run', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'centroid-cli-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('removes its temporary folder on Ctrl-C', async () => {
    const tmp = await mkdtemp(path.join(dir, 'tmp-'));
    const out = path.join(dir, 'interrupted.h5');
    const args = ['run', fixturePath('tiny-cnn.h5'), '--data', fixturePath('tiny-cnn.npz'), '--number-of-clusters', '4'];
    const child = startCentroid([...args, '--epochs', '200', '--batch-size', '4', '--out', out], { env: { TMPDIR: tmp } });
    let stderr = '';
    const exited = once(child, 'exit');
    await new Promise<void>((resolve) => {
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/fine_tuning/.test(stderr)) resolve();
      });
      void exited.then(() => resolve());
    });
    // tsx keeps its own cache in TMPDIR too.
    const runFolders = async (): Promise<string[]> => (await readdir(tmp)).filter((name) => name.startsWith('centroid-run-'));
    assert.equal((await runFolders()).length, 1, stderr);

    child.kill('SIGINT');
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    assert.equal(code, null, stderr);
    assert.equal(signal, 'SIGINT');
    // The watcher process checks twice a second.
    for (let attempt = 0; attempt < 50 && (await runFolders()).length > 0; attempt++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(await runFolders(), []);
    await assert.rejects(stat(out), { code: 'ENOENT' });
  });

  it('clusters a model and writes the result', async () => {
    const out = path.join(dir, 'out.h5');
    const resultFile = path.join(dir, 'result.json');
    const tmp = await mkdtemp(path.join(dir, 'tmp-'));
    const run = await centroid([
      'run',
      fixturePath('tiny-cnn.h5'),
      '--data',
      fixturePath('tiny-cnn.npz'),
      '--number-of-clusters',
      '4',
      '--cluster-centroids-init',
      'linear',
      '--epochs',
      '1',
      '--batch-size',
      '16',
      '--out',
      out,
      '--result',
      resultFile,
    ], { env: { TMPDIR: tmp } });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await readdir(tmp)).filter((name) => name.startsWith('centroid-run-')), [], 'the temporary folder is removed');
    const metrics = MetricsSchema.parse(JSON.parse(await readFile(resultFile, 'utf8')));
    assert.equal(metrics.fine_tuning.performed, true);
    assert.ok((await stat(out)).size > 0);
    assert.match(run.stdout, /gzip compression ratio/);
    assert.match(run.stdout, /ideal size \(entropy-coded assignments and centroids\): [\d,]+ bytes/);
    assert.match(run.stderr, /fine_tuning {2}epoch 1\/1, batch \d+\/4/, 'plain progress lines without a terminal');
    assert.doesNotMatch(run.stderr, /warn: weight not clustered: .*bias/, 'biases are skipped silently');
  });

  it('shows only stages that run without data', async () => {
    const run = await centroid(['run', fixturePath('tiny-cnn.h5'), '--number-of-clusters', '4', '--out', path.join(dir, 'data-free.h5')]);
    assert.equal(run.code, 0, run.stderr);

    const stages = [...run.stderr.matchAll(/^ *([\d.]+)% {2}(\w+)/gm)].map((match) => ({ percent: Number(match[1]), stage: match[2] }));
    assert.deepEqual(
      stages.map((line) => line.stage),
      ['loading', 'clustering', 'stripping', 'packaging'],
      run.stderr,
    );
    for (let i = 1; i < stages.length; i++) assert.ok(stages[i]!.percent > stages[i - 1]!.percent, run.stderr);
    assert.match(run.stderr, /^ +fine_tuning skipped: data-free clustering: no dataset was given$/m);
    assert.match(run.stderr, /^ +evaluating_baseline skipped: data-free clustering: no dataset was given$/m);
    assert.match(run.stdout, /fine-tuning: skipped \(data-free clustering: no dataset was given\)/);
  });

  it('shows fine-tuning skipped at 0 epochs', async () => {
    const run = await centroid([
      'run',
      fixturePath('tiny-cnn.h5'),
      '--data',
      fixturePath('tiny-cnn.npz'),
      '--epochs',
      '0',
      '--number-of-clusters',
      '4',
      '--out',
      path.join(dir, 'no-epochs.h5'),
    ]);
    assert.equal(run.code, 0, run.stderr);

    assert.doesNotMatch(run.stderr, /%\s+fine_tuning/, run.stderr);
    assert.match(run.stderr, /^ +fine_tuning skipped: fine_tune\.epochs is 0$/m);
    assert.match(run.stderr, /%\s+evaluating_baseline/, 'evaluation still runs on the test arrays');
    assert.match(run.stderr, /%\s+evaluating$/m);
  });

  it('reports a missing model file', async () => {
    const run = await centroid(['run', path.join(dir, 'missing.h5'), '--number-of-clusters', '4']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /MODEL file not found: .*missing\.h5/);
    assert.equal(hasStackTrace(run.stderr), false, run.stderr);
  });

  it('reports a folder given as the dataset', async () => {
    const run = await centroid(['run', fixturePath('tiny-cnn.h5'), '--data', dir, '--number-of-clusters', '4']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /--data .* is not a file/);
    assert.equal(hasStackTrace(run.stderr), false, run.stderr);
  });

  it('checks the output folder before running', async () => {
    const run = await centroid(['run', fixturePath('tiny-cnn.h5'), '--number-of-clusters', '4', '--out', path.join(dir, 'no/such/out.h5')]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /does not exist; create it first/);
    assert.doesNotMatch(run.stderr, /loading/, 'the pipeline did not start');
  });

  it('refuses to overwrite the input model', async () => {
    const model = path.join(dir, 'keep.h5');
    await copyFile(fixturePath('tiny-cnn.h5'), model);
    const run = await centroid(['run', model, '--number-of-clusters', '4', '--out', model]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /is the input model/);
  });

  it('rejects outputs that replace an input', async () => {
    const model = path.join(dir, 'kept-model.h5');
    const data = path.join(dir, 'kept-data.npz');
    const params = path.join(dir, 'kept-params.json');
    const out = path.join(dir, 'kept-out.h5');
    await copyFile(fixturePath('tiny-cnn.h5'), model);
    await copyFile(fixturePath('tiny-cnn.npz'), data);
    await writeFile(params, '{"number_of_clusters": 4}');
    const modelBytes = await readFile(model);
    const dataBytes = await readFile(data);
    const base = ['run', model, '--params', params, '--data', data, '--epochs', '0'];

    const cases: Array<{ args: string[]; message: RegExp }> = [
      { args: ['--out', out, '--result', model], message: /--result \S+kept-model\.h5 is the input model/ },
      { args: ['--out', out, '--result', data], message: /--result \S+kept-data\.npz is the --data dataset/ },
      { args: ['--out', out, '--result', params], message: /--result \S+kept-params\.json is the --params file/ },
      { args: ['--out', out, '--result', out], message: /--result \S+kept-out\.h5 is the --out path of the clustered model/ },
      { args: ['--out', data], message: /--out \S+kept-data\.npz is the --data dataset/ },
    ];
    for (const { args, message } of cases) {
      const run = await centroid([...base, ...args]);
      assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.doesNotMatch(run.stderr, /loading/, 'the pipeline did not start');
    }

    assert.deepEqual(await readFile(model), modelBytes, 'the model is unchanged');
    assert.deepEqual(await readFile(data), dataBytes, 'the dataset is unchanged');
    assert.equal(await readFile(params, 'utf8'), '{"number_of_clusters": 4}');
  });

  it('checks k-means variables before loading', async () => {
    for (const name of ['CENTROID_KMEANS_THREADS', 'CENTROID_KMEANS_MAX_BYTES']) {
      const args = ['run', fixturePath('dense-mlp.h5'), '--number-of-clusters', '4', '--cluster-centroids-init', 'kmeans_1d_optimal'];
      const run = await centroid([...args, '--out', path.join(dir, 'bad-setting.h5')], { env: { [name]: 'abc' } });
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, new RegExp(`^error: invalid environment variable: ${name} must be a positive integer.*, got "abc"\n$`));
      assert.equal(hasStackTrace(run.stderr), false, run.stderr);
    }
  });

  it('resolves paths from the folder pnpm was run in', async () => {
    const folder = path.join(dir, 'user-folder');
    await mkdir(folder, { recursive: true });
    await copyFile(fixturePath('tiny-cnn.h5'), path.join(folder, 'model.h5'));
    const run = await centroid(['run', 'model.h5', '--number-of-clusters', '4', '--epochs', '0'], {
      // pnpm runs package scripts in the repository root and passes the user's folder as INIT_CWD.
      cwd: REPOSITORY_ROOT,
      env: { npm_lifecycle_event: 'centroid', INIT_CWD: folder },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.ok((await stat(path.join(folder, 'model-clustered.h5'))).isFile());
  });

  it('names a NaN in the dataset', async () => {
    const data = new Float32Array(4 * 64).fill(0.5);
    data[70] = Number.NaN;
    const npz = path.join(dir, 'nan.npz');
    await writeFile(
      npz,
      encodeNpz({
        x_train: { dtype: '<f4', shape: [4, 8, 8, 1], data },
        y_train: { dtype: '|u1', shape: [4], data: new Uint8Array([0, 1, 2, 3]) },
        x_test: { dtype: '<f4', shape: [4, 8, 8, 1], data: new Float32Array(4 * 64) },
        y_test: { dtype: '|u1', shape: [4], data: new Uint8Array([0, 1, 2, 3]) },
      }),
    );
    const run = await centroid(['run', fixturePath('tiny-cnn.h5'), '--data', npz, '--number-of-clusters', '4']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /error DATASET_INVALID: Array 'x_train' in nan\.npz has the value NaN at flat index 70/);
    assert.equal(hasStackTrace(run.stderr), false, run.stderr);
  });

  it('names the option of an invalid parameter', async () => {
    const run = await centroid(['run', fixturePath('tiny-cnn.h5'), '--number-of-clusters', '4', '--batch-size', '0']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /error PARAMS_INVALID:\n {2}fine_tune\.batch_size \(--batch-size\): /);
    assert.equal(hasStackTrace(run.stderr), false, run.stderr);
  });

  it('names only the field without an option', async () => {
    const paramsFile = path.join(dir, 'bad-webhook.json');
    await writeFile(paramsFile, JSON.stringify({ number_of_clusters: 4, webhook: { url: 'ftp://example.invalid/' } }));
    const run = await centroid(['run', fixturePath('tiny-cnn.h5'), '--params', paramsFile]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /\n {2}webhook\.url: /);
  });

  it('names no option for a rule field', async () => {
    const paramsFile = path.join(dir, 'bad-rule.json');
    const rules = [{ match: { name: 'conv2d' }, number_of_clusters: 1, cluster_centroids_init: 'median' }];
    await writeFile(paramsFile, JSON.stringify({ number_of_clusters: 4, layers: rules }));
    const run = await centroid(['run', fixturePath('tiny-cnn.h5'), '--params', paramsFile]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /\n {2}layers\.0\.number_of_clusters: Too small/);
    assert.match(run.stderr, /\n {2}layers\.0\.cluster_centroids_init: Invalid option/);
    assert.doesNotMatch(run.stderr, /\(--/);
  });

  it('checks a negative value after a space', async () => {
    for (const epochs of [['--epochs', '-1'], ['--epochs=-1']]) {
      const run = await centroid(['run', fixturePath('tiny-cnn.h5'), '--number-of-clusters', '4', ...epochs]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /error PARAMS_INVALID:\n {2}fine_tune\.epochs \(--epochs\): Too small: expected number to be >=0/, epochs.join(' '));
    }
  });

  it('names a missing required option', async () => {
    const run = await centroid(['run', fixturePath('tiny-cnn.h5')]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /^error PARAMS_INVALID:\n {2}number_of_clusters \(--number-of-clusters\): Missing required value: expected number\.\n/);
  });

  it('names an unknown option', async () => {
    const run = await centroid(['run', fixturePath('tiny-cnn.h5'), '--clusters', '4']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^error: unknown option '--clusters'\nRun 'centroid run --help' for the options\.\n$/);
  });

  it('names an option without its value', async () => {
    const run = await centroid(['run', fixturePath('tiny-cnn.h5'), '--number-of-clusters']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^error: option '--number-of-clusters' needs a value\n/);
  });
});
