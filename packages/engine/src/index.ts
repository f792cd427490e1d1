// The clustering engine: centroid initialisation, clustered fine-tuning, strip,
// evaluation and the per-layer report, on a tf.LayersModel and tensors.
export { computeAccuracy, resolveAccuracy, type AccuracyMetric, type AccuracySpec } from './accuracy.js';
export { assignClusters, assignClustersOp } from './assign-clusters.js';
export { BACKEND_NAMES, selectBackend, type BackendName, type SelectedBackend } from './backend.js';
export { throwIfCanceled } from './cancellation.js';
export { checkDataset } from './check-dataset.js';
export { clusteredWeight } from './clustered-weight.js';
export { measureClusteringError, type ClusteringErrorReport, type ClusteringOutcome } from './clustering-error.js';
export { ClusteringSession, type ClusterTarget, type ClusteringOptions, type TargetOptions } from './clustering-session.js';
export { evaluate, regularizationLoss, type Evaluation, type EvaluationProgress } from './evaluate.js';
export {
  fineTune,
  type BatchProgress,
  type EpochSummary,
  type FineTuneData,
  type FineTuneOptions,
  type FineTuneResult,
} from './fine-tune.js';
export { entropyBits, idealBytes } from './ideal-size.js';
export { initialiseCentroids } from './initialise-centroids.js';
export { checkKmeansSettings, optimalKmeans1dCentroids } from './kmeans-1d-optimal.js';
export { MAX_LLOYD_ITERATIONS, kmeansCentroids } from './kmeans-lloyd.js';
export { prepareLabels } from './labels.js';
export {
  KERAS_EPSILON,
  SUPPORTED_LOSSES,
  computeLoss,
  meanLoss,
  resolveLoss,
  type LabelForm,
  type LossName,
  type LossSpec,
} from './losses.js';
export { createRandom, shuffleInPlace, type RandomStream } from './random.js';
export { countDistinct } from './report.js';
export { clusterTargets, findNothingClustered, findUnmatchedRulesInModel, selectWeights, type WeightSelection } from './select-weights.js';
export { sumOfSquaredDifferences, sumOfSquaredErrors } from './squared-error.js';
export { stripClustering } from './strip-clustering.js';
