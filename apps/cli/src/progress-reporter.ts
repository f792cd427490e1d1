// Shows pipeline progress: a redrawn bar on a terminal, plain lines otherwise (logs, CI).
import type { Progress, Stage } from '@centroid/contracts';

const BAR_WIDTH = 30;

export interface ProgressReporter {
  update(progress: Progress): void;
  /** Prints one line that names the skipped `stage` and the reason. */
  skip(stage: Stage, reason: string): void;
  finish(): void;
}

function describe(progress: Progress): string {
  const parts = [`${progress.percent.toFixed(1).padStart(5)}%`, progress.stage];
  if (progress.epoch !== null && progress.batch !== null) {
    parts.push(`epoch ${progress.epoch}/${progress.epochs}, batch ${progress.batch}/${progress.batches}`);
  }
  return parts.join('  ');
}

/** Returns the line of a skipped stage, with the stage name under those of the progress lines. */
function describeSkipped(stage: Stage, reason: string): string {
  return `${' '.repeat(8)}${stage} skipped: ${reason}`;
}

/** Creates a reporter that draws on `stream` when it is a terminal and prints stage lines otherwise. */
export function createProgressReporter(stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  if (stream.isTTY) {
    let drawn = false;
    return {
      update(progress) {
        const filled = Math.round((progress.percent / 100) * BAR_WIDTH);
        const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
        stream.write(`\r\x1b[2K${bar} ${describe(progress)}`);
        drawn = true;
      },
      skip(stage, reason) {
        // Replaces the bar with the line, and the next update draws the bar below it.
        stream.write(`\r\x1b[2K${describeSkipped(stage, reason)}\n`);
        drawn = false;
      },
      finish() {
        if (drawn) stream.write('\n');
      },
    };
  }

  // Without a terminal, print each stage once and fine-tuning at most every 10% of an epoch.
  let lastStage = '';
  let lastDecile = -1;
  return {
    update(progress) {
      const decile =
        progress.batch !== null && progress.batches !== null ? Math.floor((progress.batch / progress.batches) * 10) : -1;
      if (progress.stage === lastStage && decile === lastDecile) return;
      lastStage = progress.stage;
      lastDecile = decile;
      stream.write(`${describe(progress)}\n`);
    },
    skip(stage, reason) {
      stream.write(`${describeSkipped(stage, reason)}\n`);
    },
    finish() {},
  };
}
