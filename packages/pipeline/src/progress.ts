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

export interface TrainingPosition {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
}

/**
 * The overall progress of one job. Stages that are skipped get no share, so the stages
 * that run fill 0 to 100%. Skip a stage before reporting progress of any stage after it,
 * or the percentage can go backwards.
 */
export class JobProgress {
  private readonly skipped = new Set<Stage>();

  /** Leaves `stage` out of the percentage. */
  skip(stage: Stage): void {
    this.skipped.add(stage);
  }

  /** Returns the overall percentage when `fraction` of `stage` is done. */
  percent(stage: Stage, fraction: number): number {
    let before = 0;
    let total = 0;
    for (const other of STAGE_ORDER) {
      const weight = this.weightOf(other);
      if (STAGE_ORDER.indexOf(other) < STAGE_ORDER.indexOf(stage)) before += weight;
      total += weight;
    }
    const clamped = Math.min(Math.max(fraction, 0), 1);
    return Math.round(((before + this.weightOf(stage) * clamped) / total) * 1000) / 10;
  }

  /** Returns the progress record when `fraction` of `stage` is done, at `position` while fine-tuning. */
  at(stage: Stage, fraction: number, position?: TrainingPosition): Progress {
    return {
      stage,
      percent: this.percent(stage, fraction),
      epoch: position?.epoch ?? null,
      epochs: position?.epochs ?? null,
      batch: position?.batch ?? null,
      batches: position?.batches ?? null,
    };
  }

  private weightOf(stage: Stage): number {
    return this.skipped.has(stage) ? 0 : STAGE_WEIGHTS[stage];
  }
}
