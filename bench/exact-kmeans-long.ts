// The kmeans_1d_optimal cases that the engine bench skips for time, each run once with a
// long deadline. It runs only with `--long` (`pnpm bench --long`), because a case can take
// most of an hour. Without it, the results stay as they are. `--long-cases 100000000:256`
// runs only the listed cases (size:clusters), and the results of the other cases stay as
// the last run wrote them. Each case runs as
// bench/engine.ts runs one (`--case`), in its own child process, so the measurements
// mean what the engine bench's columns mean. Writes bench/results/exact-kmeans-long.json
// and exact-kmeans-long.md.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { runChild } from './lib/run-child.js';

/** The cases, in the order they run: the engine bench skips each for time on 2 cores. */
const CASES = [{ size: 100_000_000, clusters: 256 }] as const;

/** A case still running after this is killed and recorded as timed out. */
const CASE_TIMEOUT_SECONDS = 60 * 60;

interface Measurement {
  initialisation_ms: number;
  assignment_ms: number;
  total_ms: number;
  peak_rss_bytes: number;
  mean_squared_error: number;
  threads: number;
}

interface LongCaseResult {
  size: number;
  clusters: number;
  status: 'measured' | 'failed';
  reason: string | null;
  load_average_before: number;
  /** When the case started; missing in results written before this field existed. */
  measured_at?: string;
  measurement: Measurement | null;
}

if (!process.argv.includes('--long')) {
  console.log(`exact-kmeans-long: skipped. Pass --long to run cases of up to ${CASE_TIMEOUT_SECONDS / 60} minutes each.`);
} else {
  await runLongCases(selectedCases());
}

/** Returns the cases named by `--long-cases`, or all of them. */
function selectedCases(): readonly { size: number; clusters: number }[] {
  const index = process.argv.indexOf('--long-cases');
  if (index < 0) return CASES;
  const list = process.argv[index + 1] ?? '';
  return list.split(',').map((item) => {
    const found = CASES.find((spec) => `${spec.size}:${spec.clusters}` === item);
    if (found === undefined) {
      throw new Error(`invalid --long-cases item "${item}": expected one of ${CASES.map((spec) => `${spec.size}:${spec.clusters}`).join(', ')}`);
    }
    return found;
  });
}

async function runLongCases(cases: readonly { size: number; clusters: number }[]): Promise<void> {
  const benchDirectory = path.dirname(fileURLToPath(import.meta.url));
  const engineBench = path.join(benchDirectory, 'engine.ts');
  const results: LongCaseResult[] = [];
  for (const spec of cases) {
    const loadAverageBefore = Math.round((os.loadavg()[0] ?? 0) * 100) / 100;
    const measuredAt = new Date().toISOString();
    const argument = `${spec.size},kmeans_1d_optimal,${spec.clusters}`;
    const outcome = await runChild(process.execPath, ['--expose-gc', '--import', 'tsx', engineBench, '--case', argument], {
      timeoutMs: CASE_TIMEOUT_SECONDS * 1000,
    });
    let result: LongCaseResult;
    if (outcome.timedOut) {
      result = { ...spec, status: 'failed', reason: `timed out after ${CASE_TIMEOUT_SECONDS} s and was killed`, load_average_before: loadAverageBefore, measured_at: measuredAt, measurement: null };
    } else if (outcome.code !== 0 || outcome.lastLine === '') {
      const detail = outcome.stderr.trim().split('\n').slice(-3).join(' | ');
      const reason = `child exited with code ${outcome.code} (signal ${outcome.signal}): ${detail}`;
      result = { ...spec, status: 'failed', reason, load_average_before: loadAverageBefore, measured_at: measuredAt, measurement: null };
    } else {
      const measurement = JSON.parse(outcome.lastLine) as Measurement;
      result = { ...spec, status: 'measured', reason: null, load_average_before: loadAverageBefore, measured_at: measuredAt, measurement };
    }
    results.push(result);
    console.log(`kmeans_1d_optimal N=${spec.clusters} n=${spec.size}: ${result.status}${result.measurement ? `, ${(result.measurement.total_ms / 1000).toFixed(1)} s` : `: ${result.reason}`}`);
  }

  const resultsDirectory = path.join(benchDirectory, 'results');
  const jsonPath = path.join(resultsDirectory, 'exact-kmeans-long.json');
  const earlier = existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, 'utf8')) as { results: LongCaseResult[] }).results : [];
  const merged = CASES.flatMap((spec) => {
    const found = results.find((result) => result.size === spec.size && result.clusters === spec.clusters) ??
      earlier.find((result) => result.size === spec.size && result.clusters === spec.clusters);
    return found === undefined ? [] : [found];
  });
  const report = {
    created_at: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memory_bytes: os.totalmem(), node: process.version },
    case_timeout_seconds: CASE_TIMEOUT_SECONDS,
    results: merged,
  };
  mkdirSync(resultsDirectory, { recursive: true });
  writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(resultsDirectory, 'exact-kmeans-long.md'), formatMarkdown(report));
}

function formatMarkdown(report: { created_at: string; machine: { cpu: string; cores: number; memory_bytes: number }; results: LongCaseResult[] }): string {
  const lines = [
    '# Long kmeans_1d_optimal cases',
    '',
    `Written by \`pnpm bench --long\` (bench/exact-kmeans-long.ts) on ${report.created_at}; each case says when it ran.`,
    `Machine: ${report.machine.cpu}, ${report.machine.cores} cores (shared with other work), ${Math.round(report.machine.memory_bytes / 2 ** 20)} MiB.`,
    '',
    'The cases that bench/engine.md skips for time, each measured once as that bench measures a case, with a',
    `deadline of ${CASE_TIMEOUT_SECONDS / 60} minutes. The columns mean what they mean there.`,
    '',
    '| n | N | threads | init s | assign s | total s | peak RSS MiB | MSE | load | measured at |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const result of report.results) {
    const m = result.measurement;
    const size = `${result.size / 1_000_000}M`;
    if (m === null) {
      lines.push(`| ${size} | ${result.clusters} | | ${result.status}: ${result.reason} | | | | | ${result.load_average_before.toFixed(2)} | ${result.measured_at ?? ''} |`);
      continue;
    }
    lines.push(
      `| ${size} | ${result.clusters} | ${m.threads} | ${(m.initialisation_ms / 1000).toFixed(1)} | ${(m.assignment_ms / 1000).toFixed(2)} | ` +
        `${(m.total_ms / 1000).toFixed(1)} | ${(m.peak_rss_bytes / 2 ** 20).toFixed(0)} | ${m.mean_squared_error.toExponential(3)} | ` +
        `${result.load_average_before.toFixed(2)} | ${result.measured_at ?? ''} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}
