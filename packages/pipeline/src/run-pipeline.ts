// The clustering pipeline from an uploaded file to artifacts on disk: load, evaluate the
// original, initialise centroids, fine-tune, strip, evaluate the shipped model, pack.
// The CLI runs it in-process and the worker in a child process. It does not use Redis or HTTP.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import {
  CentroidError,
  type Evaluation,
  type FineTuningReport,
  type LayerReport,
  type Metrics,
  type Stage,
  type Warning,
} from '@centroid/contracts';
import {
  ClusteringSession,
  clusterTargets,
  countDistinct,
  evaluate,
  findNothingClustered,
  findUnmatchedRulesInModel,
  fineTune,
  measureClusteringError,
  resolveLoss,
  selectBackend,
  selectWeights,
  stripClustering,
  type ClusterTarget,
  type LossSpec,
  type WeightSelection,
} from '@centroid/engine';
import {
  gzipFile,
  measureFile,
  MODEL_ARTIFACT_NAMES,
  MODEL_CONTENT_TYPES,
  outputFormatProblem,
  readModel,
  readNpz,
  toLayersModel,
  writeModel,
  type ModelFile,
  type ModelFormat,
} from '@centroid/model-io';
import { disposeDataset, prepareDataset, type PreparedDataset, type Split } from './prepare-dataset.js';
import { JobProgress } from './progress.js';
import type { PipelineArtifact, PipelineHooks, PipelineInput, PipelineResult } from './types.js';

const EVALUATION_BATCH_SIZE = 256;

/**
 * Returns a weight's name prefixed by its layer's, such as `dense_a/kernel`. TF.js already
 * names most variables so, and the prefix is added only where it is missing.
 */
function qualifiedWeightName(weight: WeightSelection): string {
  const prefix = `${weight.layer.name}/`;
  return weight.weightName.startsWith(prefix) ? weight.weightName : `${prefix}${weight.weightName}`;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CentroidError('JOB_CANCELED', 'The job was canceled.');
}

/**
 * Runs the whole pipeline and writes the clustered model, its gzip and `metrics.json` to
 * `input.outDir`. The model is named by its format: `model.h5`, `model.keras` or
 * `model.tfjs.zip` (a zip of `model.json` and its weight shards).
 */
export async function runPipeline(input: PipelineInput, hooks: PipelineHooks = {}): Promise<PipelineResult> {
  const { params } = input;
  const { signal } = hooks;
  const log = hooks.onLog ?? (() => undefined);
  const timings: Partial<Record<Stage, number>> = {};
  const warnings: Warning[] = [];
  const progress = new JobProgress();
  let stageStartedAt = 0;
  let currentStage: Stage | null = null;

  const enterStage = (stage: Stage) => {
    if (currentStage !== null) timings[currentStage] = Math.round(performance.now() - stageStartedAt);
    throwIfAborted(signal);
    currentStage = stage;
    stageStartedAt = performance.now();
    hooks.onProgress?.(progress.at(stage, 0));
    log('info', `stage ${stage}`, { stage });
  };

  // A skipped stage gets no progress record and no timing, only this notice.
  const announceSkipped = (stage: Stage, reason: string) => {
    throwIfAborted(signal);
    hooks.onStageSkipped?.(stage, reason);
    log('info', `stage ${stage} skipped: ${reason}`, { stage, reason });
  };

  const selected = await selectBackend();
  const backend = { name: selected.name, version: selected.version };
  for (const skipped of selected.skipped) log('debug', `backend ${skipped.name} skipped: ${skipped.reason}`);
  log('info', `backend ${backend.name} ${backend.version}`, { backend });

  enterStage('loading');
  const source = await readModel(input.modelPath, input.modelFilename);
  const outputFormat = chooseOutputFormat(source, params.output_format);
  const { model, bindings } = await toLayersModel(source);
  // A .keras archive written as .keras keeps its optimizer variables, and its writer warns about that.
  if (source.hasOptimizerState && !(source.format === 'keras' && outputFormat === 'keras')) {
    warnings.push({
      code: 'OPTIMIZER_STATE_DROPPED',
      message: `${input.modelFilename} contains optimizer state; the clustered model is written without it.`,
    });
  }

  let dataset: PreparedDataset | null = null;
  let session: ClusteringSession | null = null;
  try {
    const loss: LossSpec | null = resolveLoss(source.trainingConfig, model.outputs[0]!.shape);
    const epochs = params.fine_tune.epochs;
    if (input.datasetPath !== null && loss === null) {
      warnings.push({
        code: 'MODEL_NOT_COMPILED',
        message: `${input.modelFilename} was saved without a training config (loss and metrics), so the dataset was not used: the model was neither evaluated nor fine-tuned.`,
      });
    } else if (input.datasetPath !== null) {
      const datasetFile = input.datasetFilename ?? path.basename(input.datasetPath);
      checkSingleInputOutput(model, input.modelFilename, datasetFile);
      const arrays = await readNpz(input.datasetPath, { filename: datasetFile });
      dataset = prepareDataset(
        arrays,
        params.dataset,
        {
          inputShape: model.inputs[0]!.shape,
          outputShape: model.outputs[0]!.shape,
          labelForm: loss!.labelForm,
          needsTrain: epochs > 0,
          maxTrainSamples: params.fine_tune.max_train_samples,
        },
        datasetFile,
      );
      warnings.push(...dataset.warnings);
    }

    // Both plans are made before any stage after loading reports progress, so that the
    // percentage is spread over the stages that run from the start.
    const evaluationPlan = planEvaluation(input.datasetPath !== null, dataset, loss);
    const fineTuningPlan = planFineTuning(epochs, input.datasetPath !== null, dataset, loss);
    if (evaluationPlan.skipReason !== null) {
      progress.skip('evaluating_baseline');
      progress.skip('evaluating');
    }
    if (fineTuningPlan.skipReason !== null) progress.skip('fine_tuning');

    const runEvaluation = async (stage: Stage): Promise<Evaluation | null> => {
      if (evaluationPlan.skipReason !== null) {
        announceSkipped(stage, evaluationPlan.skipReason);
        return null;
      }
      enterStage(stage);
      const { test, loss: testLoss } = evaluationPlan;
      const onBatch = ({ batch, batches }: { batch: number; batches: number }) => hooks.onProgress?.(progress.at(stage, batch / batches));
      return evaluate(model, test.x, test.y, testLoss, EVALUATION_BATCH_SIZE, onBatch, signal);
    };

    const baseline = await runEvaluation('evaluating_baseline');
    if (baseline !== null) log('info', 'baseline evaluated', { ...baseline });

    enterStage('clustering');
    const selection = selectWeights(model, params);
    warnings.push(...findUnmatchedRulesInModel(model, params));
    const nothingClustered = findNothingClustered(selection);
    if (nothingClustered !== null) warnings.push(nothingClustered);
    const targets: ClusterTarget[] = clusterTargets(selection);
    const originalValues = new Map(bindings.map((binding) => [binding.entry.datasetPath, binding.entry.values]));
    session = ClusteringSession.start(model, targets, {
      method: params.cluster_centroids_init,
      seed: params.fine_tune.seed,
      preserveSparsity: params.preserve_sparsity,
      clusterPerChannel: params.cluster_per_channel,
      gradientAggregation: params.gradient_aggregation,
    });
    // Fine-tuning moves the centroids, so keep the initial ones for the report's sse_initial.
    const initialCentroids = new Map<ClusterTarget, Float32Array>();
    // Per channel or with preserve_sparsity, the session computes sse_initial, the table
    // size and a note for the report, because a flat list of centroids cannot describe them.
    const grouped = new Map<ClusterTarget, { sseInitial: number; tableSize: number; note: string | null }>();
    for (const target of targets) {
      initialCentroids.set(target, session.centroids(target));
      const sseInitial = session.initialSquaredError(target);
      if (sseInitial !== null) {
        grouped.set(target, { sseInitial, tableSize: session.centroidTableSize(target), note: session.clusteringNote(target) });
      }
    }
    for (const weight of selection) {
      if (weight.clusterable) continue;
      // Biases and normalization statistics are left alone by design; other skips deserve attention.
      const level = /never clustered|not clustered by default|excluded by layers/.test(weight.reason) ? 'debug' : 'warn';
      log(level, `weight not clustered: ${qualifiedWeightName(weight)}: ${weight.reason}`, { layer: weight.layer.name });
    }

    let fineTuning: FineTuningReport;
    if (fineTuningPlan.skipReason === null) {
      enterStage('fine_tuning');
      fineTuning = await runFineTuning(session, fineTuningPlan, params.fine_tune, progress, hooks, signal);
    } else {
      announceSkipped('fine_tuning', fineTuningPlan.skipReason);
      fineTuning = skippedFineTuning(fineTuningPlan.skipReason, dataset);
    }

    enterStage('stripping');
    const clusteredValues = stripClustering(session);
    session = null;

    const clustered = await runEvaluation('evaluating');
    if (clustered !== null) log('info', 'clustered model evaluated', { ...clustered });

    enterStage('packaging');
    await mkdir(input.outDir, { recursive: true });
    const replacements = new Map<string, Float32Array>();
    const layers: LayerReport[] = [];
    for (const binding of bindings) {
      // Match by variable, because a nested model binds its file weights to the nested model
      // while selection and targets name the inner layer that owns each weight.
      const variable = binding.layer.weights[binding.weightIndex];
      const target = targets.find((t) => t.layer.weights[t.weightIndex] === variable);
      const weight = selection.find((w) => w.layer.weights[w.weightIndex] === variable);
      const after = target === undefined ? undefined : clusteredValues.get(target);
      if (after !== undefined) replacements.set(binding.entry.datasetPath, after);
      const before = originalValues.get(binding.entry.datasetPath) ?? binding.entry.values;
      const groupedReport = target === undefined || after === undefined ? undefined : grouped.get(target);
      const reason = weight?.reason ?? 'not a weight TF.js assigns to a layer';
      const measured = measureClusteringError({
        original: before,
        shipped: after ?? null,
        initialCentroids: target === undefined || after === undefined ? null : (initialCentroids.get(target) ?? null),
        // The ideal size counts the whole centroid table, channels × N when clustered per channel.
        // NOTE: entropy_bits is over the tensor's distinct values, not per channel, so per
        // channel it can overstate what an index coder needs.
        numberOfClusters: target === undefined || after === undefined ? null : (groupedReport?.tableSize ?? target.numberOfClusters),
      });
      if (groupedReport !== undefined) measured.sse_initial = groupedReport.sseInitial;
      layers.push({
        // Rows use the TF.js names of the layer that owns the weight, the same in every format,
        // because a file names nested weights by the outer model and .keras weights `vars/0`.
        // NOTE: TF.js names the weights of a Bidirectional layer `forward_forward_lstm/kernel`
        // where Keras writes `forward_lstm/lstm_cell/kernel`, and the report keeps TF.js' name.
        layer: weight?.layer.name ?? binding.layer.name,
        weight: weight === undefined ? binding.entry.name : qualifiedWeightName(weight),
        shape: binding.entry.shape,
        clustered: after !== undefined,
        reason: groupedReport?.note == null ? reason : `${reason}; ${groupedReport.note}`,
        number_of_clusters: target === undefined || after === undefined ? null : target.numberOfClusters,
        distinct_before: countDistinct(before),
        distinct_after: countDistinct(after ?? before),
        ...measured,
      });
    }

    const modelName = MODEL_ARTIFACT_NAMES[outputFormat];
    const modelPath = path.join(input.outDir, modelName);
    const gzipPath = `${modelPath}.gz`;
    const written = await writeModel(source, outputFormat, modelPath, replacements);
    for (const warning of written.warnings) {
      if (!warnings.some((w) => w.code === warning.code)) warnings.push(warning);
    }
    await gzipFile(modelPath, gzipPath);
    const [originalSize, clusteredSize] = await Promise.all([measureFile(input.modelPath), measureFile(modelPath)]);
    timings.packaging = Math.round(performance.now() - stageStartedAt);

    const metrics: Metrics = {
      baseline,
      clustered,
      size: {
        original_bytes: originalSize.bytes,
        original_gzip_bytes: originalSize.gzipBytes,
        clustered_bytes: clusteredSize.bytes,
        clustered_gzip_bytes: clusteredSize.gzipBytes,
        gzip_ratio: Math.round((originalSize.gzipBytes / clusteredSize.gzipBytes) * 1000) / 1000,
        ideal_bytes: layers.reduce((total, layer) => total + (layer.ideal_bytes ?? 0), 0),
      },
      layers,
      fine_tuning: fineTuning,
      timings_ms: timings,
      backend,
      warnings,
    };
    const metricsPath = path.join(input.outDir, 'metrics.json');
    await writeFile(metricsPath, `${JSON.stringify(metrics, null, 2)}\n`);
    hooks.onProgress?.(progress.at('packaging', 1));

    const artifacts: PipelineArtifact[] = [
      { name: modelName, path: modelPath, contentType: MODEL_CONTENT_TYPES[outputFormat] },
      { name: `${modelName}.gz`, path: gzipPath, contentType: 'application/gzip' },
      { name: 'metrics.json', path: metricsPath, contentType: 'application/json' },
    ];
    return { metrics, artifacts };
  } finally {
    session?.dispose();
    disposeDataset(dataset);
    model.dispose();
  }
}

/**
 * Resolves `output_format` against the upload's format. Raises PARAMS_INVALID for a
 * conversion that model-io cannot write, before any clustering work is done.
 */
function chooseOutputFormat(source: ModelFile, requested: PipelineInput['params']['output_format']): ModelFormat {
  const format = requested === 'same' ? source.format : requested;
  const problem = outputFormatProblem(source.format, format, source.weights, source.modelConfig);
  if (problem !== null) {
    throw new CentroidError('PARAMS_INVALID', `output_format "${requested}": ${source.filename} ${problem}`, {
      field: 'output_format',
      file: source.filename,
    });
  }
  return format;
}

/** Either the data a stage runs on, or why the stage is skipped. */
type StagePlan<Data> = (Data & { skipReason: null }) | { skipReason: string };

/** Returns why a stage that needs the dataset and the model's loss cannot run without them. */
function missingDataReason(datasetGiven: boolean): string {
  return datasetGiven ? 'the model has no training config, so its loss is unknown' : 'data-free clustering: no dataset was given';
}

function planEvaluation(datasetGiven: boolean, dataset: PreparedDataset | null, loss: LossSpec | null): StagePlan<{ test: Split; loss: LossSpec }> {
  if (dataset?.test == null || loss === null) return { skipReason: missingDataReason(datasetGiven) };
  return { test: dataset.test, loss, skipReason: null };
}

type FineTuningData = { train: Split; availableTrainSamples: number; loss: LossSpec };

function planFineTuning(epochs: number, datasetGiven: boolean, dataset: PreparedDataset | null, loss: LossSpec | null): StagePlan<FineTuningData> {
  if (epochs === 0) return { skipReason: 'fine_tune.epochs is 0' };
  if (dataset === null || loss === null) return { skipReason: missingDataReason(datasetGiven) };
  if (dataset.train === null) return { skipReason: 'the dataset has no training arrays' };
  return { train: dataset.train, availableTrainSamples: dataset.availableTrainSamples, loss, skipReason: null };
}

function skippedFineTuning(reason: string, dataset: PreparedDataset | null): FineTuningReport {
  return {
    performed: false,
    skipped_reason: reason,
    epochs: 0,
    train_samples: 0,
    available_train_samples: dataset?.availableTrainSamples ?? 0,
    validation_samples: 0,
    steps: 0,
    final_train_loss: null,
  };
}

async function runFineTuning(
  session: ClusteringSession,
  { train, availableTrainSamples, loss }: FineTuningData,
  options: PipelineInput['params']['fine_tune'],
  progress: JobProgress,
  hooks: PipelineHooks,
  signal: AbortSignal | undefined,
): Promise<FineTuningReport> {
  const result = await fineTune(session, { x: train.x, y: train.y }, {
    epochs: options.epochs,
    batchSize: options.batch_size,
    learningRate: options.learning_rate,
    seed: options.seed,
    validationSplit: options.validation_split,
    loss,
    // Biases and other unclustered weights stay bit-identical to the upload; TFMOT would train them.
    trainUnclusteredWeights: false,
    signal,
    onBatch: ({ epoch, epochs, batch, batches }) => {
      const fraction = ((epoch - 1) * batches + batch) / (epochs * batches);
      hooks.onProgress?.(progress.at('fine_tuning', fraction, { epoch, epochs, batch, batches }));
    },
  });

  return {
    performed: true,
    skipped_reason: null,
    epochs: options.epochs,
    train_samples: result.trainSamples,
    available_train_samples: availableTrainSamples,
    validation_samples: result.validationSamples,
    steps: result.steps,
    final_train_loss: result.finalLoss,
  };
}

/** Raises DATASET_SHAPE_MISMATCH for a model that the engine cannot train or evaluate on one dataset. */
function checkSingleInputOutput(model: tf.LayersModel, modelFile: string, datasetFile: string): void {
  if (model.inputs.length === 1 && model.outputs.length === 1) return;
  throw new CentroidError(
    'DATASET_SHAPE_MISMATCH',
    `${modelFile} has ${model.inputs.length} inputs and ${model.outputs.length} outputs, but fine-tuning and evaluation ` +
      `with ${datasetFile} support models with one of each. Submit the model without a dataset to cluster it data-free.`,
    { field: 'dataset', file: datasetFile },
  );
}
