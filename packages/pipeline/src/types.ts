// Input, output and hooks of the pipeline, shared by the CLI (in-process) and the worker (child process).
import type { JobParams, Metrics, Progress, Stage } from '@centroid/contracts';

export interface PipelineInput {
  /** Path of the uploaded model file on local disk. */
  modelPath: string;
  /** Name the client gave the model file; used in error messages. */
  modelFilename: string;
  /** Path of the uploaded NPZ dataset, or null for a data-free job. */
  datasetPath: string | null;
  datasetFilename: string | null;
  params: JobParams;
  /** Folder that receives the artifacts; created if missing. */
  outDir: string;
}

export interface PipelineArtifact {
  /** File name inside outDir, such as `model.h5`. */
  name: string;
  path: string;
  contentType: string;
}

export interface PipelineResult {
  metrics: Metrics;
  artifacts: PipelineArtifact[];
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface PipelineHooks {
  /** Called on every stage change and fine-tuning batch. */
  onProgress?: (progress: Progress) => void;
  /**
   * Called where a stage that does not run would have started, such as fine_tuning
   * without training data, with the reason. A skipped stage never reaches `onProgress`.
   */
  onStageSkipped?: (stage: Stage, reason: string) => void;
  /** Structured log lines; the caller decides where they go. */
  onLog?: (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;
  /** Aborts the job between batches; the pipeline then raises JOB_CANCELED. */
  signal?: AbortSignal;
}
