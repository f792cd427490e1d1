// The job resource, its progress and metrics: what the API returns and the worker writes.
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from './errors.js';
import { JobParamsSchema } from './params.js';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled'];

export const STAGES = [
  'loading',
  'evaluating_baseline',
  'clustering',
  'fine_tuning',
  'stripping',
  'evaluating',
  'packaging',
] as const;
export type Stage = (typeof STAGES)[number];

export const ProgressSchema = z.object({
  stage: z.enum(STAGES),
  /** Overall completion of the job, 0 to 100. */
  percent: z.number().min(0).max(100),
  /** Fine-tuning position, 1-based; null outside fine-tuning. */
  epoch: z.number().int().nullable(),
  epochs: z.number().int().nullable(),
  batch: z.number().int().nullable(),
  batches: z.number().int().nullable(),
});
export type Progress = z.infer<typeof ProgressSchema>;

export const EvaluationSchema = z.object({
  loss: z.number(),
  accuracy: z.number().nullable(),
  samples: z.number().int(),
});
export type Evaluation = z.infer<typeof EvaluationSchema>;

export const LayerReportSchema = z.object({
  layer: z.string(),
  weight: z.string(),
  shape: z.array(z.number().int()),
  clustered: z.boolean(),
  /** Why the tensor was clustered or left alone, such as `kernel of Dense` or `bias of Dense: never clustered unless cluster_biases is set`. */
  reason: z.string(),
  /** Shared values this tensor was clustered to: its `layers` rule's number_of_clusters, else the job's; null when not clustered. */
  number_of_clusters: z.number().int().nullable(),
  distinct_before: z.number().int(),
  distinct_after: z.number().int(),
  // The four fields below are optional only because job records written before they
  // existed lack them. The pipeline always fills them in.
  /** Σ (w − c)² of each original weight w against its nearest initial centroid c; null when not clustered. */
  sse_initial: z.number().nullable().optional(),
  /** Σ (shipped − original)² over the tensor's values; 0 when not clustered. */
  sse_final: z.number().optional(),
  /** Shannon entropy of the final assignment, in bits per weight; null when not clustered. */
  entropy_bits: z.number().nullable().optional(),
  /**
   * Ideal size in bytes, rounded up: n·entropy_bits/8 plus 4 bytes per centroid (number_of_clusters, or
   * channels × number_of_clusters per channel) when clustered, 4·n otherwise.
   */
  ideal_bytes: z.number().int().optional(),
});
export type LayerReport = z.infer<typeof LayerReportSchema>;

export const SizeReportSchema = z.object({
  original_bytes: z.number().int(),
  original_gzip_bytes: z.number().int(),
  clustered_bytes: z.number().int(),
  clustered_gzip_bytes: z.number().int(),
  /** original_gzip_bytes / clustered_gzip_bytes */
  gzip_ratio: z.number(),
  /** Sum of the layers' `ideal_bytes`: the weights' size under an ideal entropy coder. Optional for older job records. */
  ideal_bytes: z.number().int().optional(),
});
export type SizeReport = z.infer<typeof SizeReportSchema>;

export const WarningSchema = z.object({ code: z.string(), message: z.string() });
export type Warning = z.infer<typeof WarningSchema>;

export const FineTuningReportSchema = z.object({
  performed: z.boolean(),
  /** Reason fine-tuning was skipped, or null when it ran. */
  skipped_reason: z.string().nullable(),
  epochs: z.number().int(),
  train_samples: z.number().int(),
  /** Training samples available in the dataset before `max_train_samples` applied. */
  available_train_samples: z.number().int(),
  validation_samples: z.number().int(),
  steps: z.number().int(),
  final_train_loss: z.number().nullable(),
});
export type FineTuningReport = z.infer<typeof FineTuningReportSchema>;

export const BackendSchema = z.object({ name: z.string(), version: z.string() });
export type Backend = z.infer<typeof BackendSchema>;

export const MetricsSchema = z.object({
  /** Test loss and accuracy of the uploaded model; null without test data. */
  baseline: EvaluationSchema.nullable(),
  /** Test loss and accuracy of the shipped model (stripped and clustered); null without test data. */
  clustered: EvaluationSchema.nullable(),
  size: SizeReportSchema,
  layers: z.array(LayerReportSchema),
  fine_tuning: FineTuningReportSchema,
  timings_ms: z.partialRecord(z.enum(STAGES), z.number()),
  backend: BackendSchema,
  warnings: z.array(WarningSchema),
});
export type Metrics = z.infer<typeof MetricsSchema>;

export const ArtifactSchema = z.object({
  name: z.string(),
  bytes: z.number().int(),
  sha256: z.string(),
  content_type: z.string(),
  url: z.string(),
});
export type Artifact = z.infer<typeof ArtifactSchema>;

export const JobErrorSchema = z.object({
  code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
  message: z.string(),
  field: z.string().optional(),
  layer: z.string().optional(),
  file: z.string().optional(),
});
export type JobError = z.infer<typeof JobErrorSchema>;

export const UploadSchema = z.object({
  filename: z.string(),
  bytes: z.number().int(),
  sha256: z.string(),
});
export type Upload = z.infer<typeof UploadSchema>;

export const WebhookAttemptSchema = z.object({
  at: z.string(),
  status: z.number().int().nullable(),
  error: z.string().nullable(),
});

export const JobWorkerSchema = z.object({
  /** Id of the worker process, as GET /readyz lists it. */
  id: z.string(),
  /** TensorFlow.js backend of that worker, or null when it did not report one. */
  backend: BackendSchema.nullable(),
});
export type JobWorker = z.infer<typeof JobWorkerSchema>;

export const JobSchema = z.object({
  id: z.string(),
  status: z.enum(JOB_STATUSES),
  done: z.boolean(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  params: JobParamsSchema,
  inputs: z.object({ model: UploadSchema, dataset: UploadSchema.nullable() }),
  progress: ProgressSchema.nullable(),
  metrics: MetricsSchema.nullable(),
  artifacts: z.array(ArtifactSchema),
  error: JobErrorSchema.nullable(),
  webhook: z
    .object({ url: z.string(), delivered: z.boolean(), attempts: z.array(WebhookAttemptSchema) })
    .nullable(),
  urls: z.object({ self: z.string(), artifacts: z.string() }),
  /**
   * The worker that started the job last, with its backend. The API returns null until a
   * worker starts the job. Stored records may omit it, as those written before workers
   * recorded it do.
   */
  worker: JobWorkerSchema.nullable().optional(),
});
export type Job = z.infer<typeof JobSchema>;
