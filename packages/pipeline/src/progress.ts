// Turns stage changes and fine-tuning batches into one overall percentage.
import type { Progress, Stage } from '@centroid/contracts';

// Rough share of a typical job's time spent in each stage; only the monotone order matters to users.
const STAGE_WEIGHTS: Record<Stage, number> = {
  loading: 3,
  evaluating_baseline: 12,
  clustering: 3,
  fine_tuning: 65,
  stripping: 1,
  evaluating: 12,
  packaging: 4,
};

const STAGE_ORDER = Object.keys(STAGE_WEIGHTS) as Stage[];
const TOTAL_WEIGHT = STAGE_ORDER.reduce((sum, stage) => sum + STAGE_WEIGHTS[stage], 0);

/** Returns the overall percentage when `fraction` of `stage` is done. */
export function overallPercent(stage: Stage, fraction: number): number {
  let before = 0;
  for (const other of STAGE_ORDER) {
    if (other === stage) break;
    before += STAGE_WEIGHTS[other];
  }
  const clamped = Math.min(Math.max(fraction, 0), 1);
  return Math.round(((before + STAGE_WEIGHTS[stage] * clamped) / TOTAL_WEIGHT) * 1000) / 10;
}

export interface TrainingPosition {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
}

export function stageProgress(stage: Stage, fraction: number, position?: TrainingPosition): Progress {
  return {
    stage,
    percent: overallPercent(stage, fraction),
    epoch: position?.epoch ?? null,
    epochs: position?.epochs ?? null,
    batch: position?.batch ?? null,
    batches: position?.batches ?? null,
  };
}
