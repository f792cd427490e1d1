// `centroid run MODEL`: the pipeline in-process on local files, with no Redis and no HTTP.
import { copyFile, mkdir, open, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { JobParamsSchema, parseOrThrow, type JobParamsInput, type OutputFormat } from '@centroid/contracts';
import { checkKmeansSettings } from '@centroid/engine';
import { detectModelFormat, packNpyFiles, packTfjsModel, type ModelFormat } from '@centroid/model-io';
import { runPipeline } from '@centroid/pipeline';
import { createProgressReporter } from './progress-reporter.js';
import { createTemporaryFolder } from './temporary-folder.js';
import { formatSummary } from './summary.js';
import {
  CliError,
  UsageError,
  joinNegativeNumberValues,
  type ProtectedFile,
  readParamsFile,
  rejectOutputOverFiles,
  requireInputFile,
  requireOutputPath,
  toNumber,
  userWorkingDirectory,
} from './arguments.js';

export const RUN_USAGE = `Usage: centroid run MODEL --number-of-clusters N [options]

Clusters a model in-process and writes the clustered model and its metrics. MODEL is a
Keras .h5 file, a Keras 3 .keras archive, or a TF.js layers model: a folder with
model.json and its weight shards, that model.json itself, or a zip of them. A TF.js
folder or model.json is packed into one zip first, and the report's original size is
that zip's size.

Options:
  --data FILE                     NPZ dataset to fine-tune and evaluate on (optional)
  --x-train-file, --y-train-file, --x-test-file, --y-test-file FILE
                                  the dataset as separate .npy files, in place of --data;
                                  the test pair is required, the training pair when
                                  --epochs is above 0
  --number-of-clusters N          shared values per clustered tensor, 2 to 65536
  --cluster-centroids-init NAME   linear | random | density_based | kmeans_plus_plus (default)
                                  | kmeans | kmeans_1d_optimal
  --preserve-sparsity             pin one centroid at 0 and keep zero weights at 0
  --cluster-per-channel           N centroids per output channel of convolution kernels
  --cluster-depthwise             also cluster the depthwise kernels of DepthwiseConv2D
                                  and SeparableConv1D/2D
  --cluster-biases                also cluster the biases of layers whose kernel is clustered
  --gradient-aggregation NAME     sum (default) | avg: how a centroid's gradient
                                  combines its members' gradients
  --epochs N                      fine-tuning epochs (default 1; 0 skips fine-tuning)
  --batch-size N                  samples per step (default 32)
  --learning-rate X               Adam learning rate (default 1e-5)
  --validation-split X            fraction held out for validation (default 0)
  --seed N                        seed for initialisation and shuffling (default 0)
  --max-train-samples N           fine-tune on the first N training samples only
  --input-scale X                 factor applied to inputs, such as 0.00392156862745098 for bytes
  --x-train, --y-train, --x-test, --y-test NAME
                                  array names inside the NPZ (defaults: x_train, ...)
  --params FILE                   job parameters as JSON; the options above override it.
                                  Per-layer rules go there, in its "layers" list
  --output-format NAME            same | keras_h5 | keras | tfjs: format of the clustered
                                  model; tfjs writes a zip of model.json and shards. Without
                                  it, --out's extension picks it (.h5 or .hdf5: keras_h5,
                                  .keras: keras, .zip: tfjs), else same as MODEL
  --out FILE                      clustered model (default: MODEL-clustered.h5, .keras or
                                  .tfjs.zip in this folder, by output format); its
                                  extension must match --output-format when both are given
  --result FILE                   metrics as JSON (the job resource's metrics object)
`;

/** The options of `centroid run`, for node:util parseArgs. */
const RUN_OPTIONS = {
  data: { type: 'string' },
  'number-of-clusters': { type: 'string' },
  'cluster-centroids-init': { type: 'string' },
  'preserve-sparsity': { type: 'boolean' },
  'cluster-per-channel': { type: 'boolean' },
  'cluster-depthwise': { type: 'boolean' },
  'cluster-biases': { type: 'boolean' },
  'gradient-aggregation': { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  'learning-rate': { type: 'string' },
  'validation-split': { type: 'string' },
  seed: { type: 'string' },
  'max-train-samples': { type: 'string' },
  'input-scale': { type: 'string' },
  'x-train': { type: 'string' },
  'y-train': { type: 'string' },
  'x-test': { type: 'string' },
  'y-test': { type: 'string' },
  'x-train-file': { type: 'string' },
  'y-train-file': { type: 'string' },
  'x-test-file': { type: 'string' },
  'y-test-file': { type: 'string' },
  params: { type: 'string' },
  'output-format': { type: 'string' },
  out: { type: 'string' },
  result: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Runs `centroid run` and returns the process exit code. */
export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: joinNegativeNumberValues(argv, RUN_OPTIONS),
    allowPositionals: true,
    options: RUN_OPTIONS,
  });
  if (values.help) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`expected one MODEL file, found ${positionals.length}`, RUN_USAGE);
  try {
    checkKmeansSettings(process.env);
  } catch (error) {
    throw new CliError(`invalid environment variable: ${(error as Error).message}`);
  }
  const modelPath = await requireModelPath(positionals[0]!);
  const npyFiles = await requireNpyFiles(values);
  if (values.data !== undefined && npyFiles.length > 0) {
    throw new UsageError(`--data and --${npyFiles[0]!.option} both give a dataset; use either one NPZ or the .npy files`, RUN_USAGE);
  }
  let datasetPath = values.data === undefined ? null : await requireInputFile(values.data, '--data');
  let datasetFilename = datasetPath === null ? null : path.basename(datasetPath);
  const resultPath = values.result === undefined ? undefined : await requireOutputPath(values.result, '--result');

  const base: Record<string, unknown> =
    values.params === undefined ? {} : await readParamsFile(path.resolve(userWorkingDirectory(), values.params));
  const fineTune = { ...(base.fine_tune as Record<string, unknown> | undefined) };
  const dataset = { ...(base.dataset as Record<string, unknown> | undefined) };
  const setIf = (target: Record<string, unknown>, key: string, value: unknown) => {
    if (value !== undefined) target[key] = value;
  };
  setIf(base, 'number_of_clusters', toNumber(values['number-of-clusters'], '--number-of-clusters'));
  setIf(base, 'cluster_centroids_init', values['cluster-centroids-init']);
  setIf(base, 'preserve_sparsity', values['preserve-sparsity']);
  setIf(base, 'cluster_per_channel', values['cluster-per-channel']);
  setIf(base, 'cluster_depthwise', values['cluster-depthwise']);
  setIf(base, 'cluster_biases', values['cluster-biases']);
  setIf(base, 'gradient_aggregation', values['gradient-aggregation']);
  setIf(base, 'output_format', values['output-format']);
  const outExtensionFormat = values.out === undefined ? undefined : formatOfExtension(values.out);
  const outputFormatGiven = base.output_format !== undefined;
  if (!outputFormatGiven && outExtensionFormat !== undefined) base.output_format = outExtensionFormat;
  setIf(fineTune, 'epochs', toNumber(values.epochs, '--epochs'));
  setIf(fineTune, 'batch_size', toNumber(values['batch-size'], '--batch-size'));
  setIf(fineTune, 'learning_rate', toNumber(values['learning-rate'], '--learning-rate'));
  setIf(fineTune, 'validation_split', toNumber(values['validation-split'], '--validation-split'));
  setIf(fineTune, 'seed', toNumber(values.seed, '--seed'));
  setIf(fineTune, 'max_train_samples', toNumber(values['max-train-samples'], '--max-train-samples'));
  setIf(dataset, 'input_scale', toNumber(values['input-scale'], '--input-scale'));
  for (const key of ['x_train', 'y_train', 'x_test', 'y_test'] as const) {
    setIf(dataset, key, values[key.replace('_', '-') as 'x-train']);
  }
  if (Object.keys(fineTune).length > 0) base.fine_tune = fineTune;
  if (Object.keys(dataset).length > 0) base.dataset = dataset;
  const params = parseOrThrow(JobParamsSchema, base as JobParamsInput);
  if (npyFiles.length > 0) requireNpyPairs(npyFiles, params.fine_tune.epochs);

  const sourceFormat = await detectModelFormat(modelPath);
  const outputFormat = resolveFormat(sourceFormat, params.output_format);
  if (outExtensionFormat !== undefined && outExtensionFormat !== outputFormat) {
    const source = values['output-format'] === undefined ? 'output_format in --params' : '--output-format';
    const resolved = params.output_format === 'same' ? `same, which is ${outputFormat} for this ${sourceFormat} model` : outputFormat;
    throw new UsageError(
      `--out ${values.out} names a ${outExtensionFormat} file but ${source} is ${resolved}; ` +
        `give --out a ${MODEL_EXTENSIONS[outputFormat]} name, or drop ${source} to write ${outExtensionFormat}`,
      RUN_USAGE,
    );
  }
  const outPath = await requireOutputPath(values.out ?? defaultOutPath(modelPath, outputFormat), '--out');
  const inputFiles = await listInputFiles(modelPath, datasetPath, npyFiles, values.params);
  await rejectOutputOverFiles(outPath, '--out', inputFiles);
  if (resultPath !== undefined) {
    await rejectOutputOverFiles(resultPath, '--result', [...inputFiles, { path: outPath, description: 'the --out path of the clustered model' }]);
  }

  // Ctrl-C ends the process without running `finally`, so a watcher process removes the
  // folder then.
  const temporary = await createTemporaryFolder('centroid-run-');
  const workDir = temporary.path;
  const reporter = createProgressReporter();
  try {
    if (npyFiles.length > 0) {
      datasetPath = path.join(workDir, 'dataset.npz');
      // Messages name the files the user gave, not the NPZ packed from them.
      datasetFilename = `.npy files ${npyFiles.map((file) => `${file.key} (${path.basename(file.path)})`).join(', ')}`;
      await packNpyFiles(
        datasetPath,
        npyFiles.map((file) => ({ name: params.dataset[file.key], path: file.path })),
      );
    }
    // A TF.js model given as a folder or as model.json travels as one zip, as an upload does,
    // so the original size in the report is that zip's, comparable with the clustered zip.
    // The packed input sits in its own folder because the pipeline writes model.tfjs.zip
    // into outDir, and sharing one folder would overwrite the input before it is measured.
    const inputDir = path.join(workDir, 'input');
    const outDir = path.join(workDir, 'output');
    await mkdir(inputDir);
    const packedModelPath = sourceFormat === 'tfjs' && !(await isZipFile(modelPath)) ? path.join(inputDir, 'model.tfjs.zip') : modelPath;
    if (packedModelPath !== modelPath) await packTfjsModel(modelPath, packedModelPath);
    const result = await runPipeline(
      {
        modelPath: packedModelPath,
        modelFilename: path.basename(modelPath),
        datasetPath,
        datasetFilename,
        params,
        outDir,
      },
      {
        onProgress: (progress) => reporter.update(progress),
        onStageSkipped: (stage, reason) => reporter.skip(stage, reason),
        onLog: (level, message) => {
          if (level === 'warn' || level === 'error') {
            reporter.finish();
            process.stderr.write(`${level}: ${message}\n`);
          }
        },
      },
    );
    reporter.finish();

    // The pipeline lists the clustered model first, named by its format.
    await copyFile(result.artifacts[0]!.path, outPath);
    if (resultPath !== undefined) {
      await writeFile(resultPath, `${JSON.stringify(result.metrics, null, 2)}\n`);
    }
    process.stdout.write(`${formatSummary(result.metrics)}\n\nclustered model: ${outPath}\n`);
    if (resultPath !== undefined) process.stdout.write(`metrics: ${resultPath}\n`);
    return 0;
  } finally {
    reporter.finish();
    await temporary.remove();
  }
}

/** File name endings of the clustered model, by format. */
const MODEL_EXTENSIONS: Record<ModelFormat, string> = { keras_h5: '.h5', keras: '.keras', tfjs: '.tfjs.zip' };

/**
 * Returns the model format that an output file name implies: .h5 and .hdf5 are Keras HDF5,
 * .keras a Keras 3 archive, .zip a zipped TF.js model. Other endings imply none.
 */
function formatOfExtension(file: string): ModelFormat | undefined {
  const extension = path.extname(file).toLowerCase();
  if (extension === '.h5' || extension === '.hdf5') return 'keras_h5';
  if (extension === '.keras') return 'keras';
  if (extension === '.zip') return 'tfjs';
  return undefined;
}

function resolveFormat(sourceFormat: ModelFormat, requested: OutputFormat): ModelFormat {
  return requested === 'same' ? sourceFormat : requested;
}

/** Returns `MODEL-clustered` with the output format's extension, in the working folder. */
function defaultOutPath(modelPath: string, format: ModelFormat): string {
  const base = path.basename(modelPath).replace(/(\.tfjs)?\.(h5|keras|zip|json)$/, '');
  return path.join(userWorkingDirectory(), `${base}-clustered${MODEL_EXTENSIONS[format]}`);
}

/** Resolves MODEL, which may be a file or a folder holding a TF.js model.json. */
async function requireModelPath(file: string): Promise<string> {
  const resolved = path.resolve(userWorkingDirectory(), file);
  const found = await stat(resolved).catch(() => null);
  if (found === null) throw new CliError(`MODEL file not found: ${resolved}`);
  if (!found.isFile() && !found.isDirectory()) throw new CliError(`MODEL ${resolved} is neither a file nor a folder.`);
  return resolved;
}

async function isZipFile(file: string): Promise<boolean> {
  if (!(await stat(file)).isFile()) return false;
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(2);
    await handle.read(buffer, 0, 2, 0);
    return buffer.toString('latin1') === 'PK';
  } finally {
    await handle.close();
  }
}

/**
 * Lists the files that `centroid run` reads, which --out and --result must not replace: the
 * model (with the model.json of a TF.js folder), the dataset files and the --params file.
 */
async function listInputFiles(
  modelPath: string,
  datasetPath: string | null,
  npyFiles: readonly NpyFileOption[],
  paramsOption: string | undefined,
): Promise<ProtectedFile[]> {
  const files: ProtectedFile[] = [{ path: modelPath, description: 'the input model' }];
  if ((await stat(modelPath)).isDirectory()) {
    files.push({ path: path.join(modelPath, 'model.json'), description: 'the model.json of the input model' });
  }
  if (datasetPath !== null) files.push({ path: datasetPath, description: 'the --data dataset' });
  for (const file of npyFiles) files.push({ path: file.path, description: `the --${file.option} array` });
  if (paramsOption !== undefined) {
    files.push({ path: path.resolve(userWorkingDirectory(), paramsOption), description: 'the --params file' });
  }
  return files;
}

type ArrayKey = 'x_train' | 'y_train' | 'x_test' | 'y_test';

/** A dataset array given as its own `.npy` file. */
interface NpyFileOption {
  key: ArrayKey;
  /** The option without its leading dashes, such as `x-train-file`. */
  option: string;
  path: string;
}

const ARRAY_KEYS: ArrayKey[] = ['x_train', 'y_train', 'x_test', 'y_test'];

async function requireNpyFiles(values: Record<string, unknown>): Promise<NpyFileOption[]> {
  const files: NpyFileOption[] = [];
  for (const key of ARRAY_KEYS) {
    const option = `${key.replace('_', '-')}-file`;
    const value = values[option];
    if (typeof value === 'string') files.push({ key, option, path: await requireInputFile(value, `--${option}`) });
  }
  return files;
}

/** Raises a UsageError unless the files include the test pair, and the training pair when fine-tuning or when half of it is given. */
function requireNpyPairs(files: NpyFileOption[], epochs: number): void {
  const given = new Set(files.map((file) => file.key));
  const needed: ArrayKey[] = ['x_test', 'y_test'];
  if (epochs > 0 || given.has('x_train') || given.has('y_train')) needed.unshift('x_train', 'y_train');
  const missing = needed.filter((key) => !given.has(key));
  if (missing.length > 0) {
    const options = missing.map((key) => `--${key.replace('_', '-')}-file`).join(', ');
    throw new UsageError(
      `missing ${options}: a dataset given as .npy files needs the test pair, and the training pair when --epochs is above 0 (it is ${epochs})`,
      RUN_USAGE,
    );
  }
}
