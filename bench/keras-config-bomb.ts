// Time to reject a `.keras` compression bomb: an archive of about 390 KB whose config.json inflates
// to 400 MB. Two variants are built from the branches.keras fixture. In "honest" the zip
// headers declare the 400 MB, and in "lying" they declare 1000 bytes. Each public reader
// is timed on each file (`--quick`: one run per case, else three), with the error code
// and message it raises. Writes bench/results/keras-config-bomb.json and .md.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateRawSync } from 'node:zlib';

import { isCentroidError } from '../packages/contracts/src/index.js';
import { withModelArchive } from '../packages/model-io/src/archive/model-archive.js';
import { detectModelFormat, inspectModelFile, readKerasArchive, readModel } from '../packages/model-io/src/index.js';
import { readKerasArchiveInProcess } from '../packages/model-io/src/keras-archive/read.js';
import { buildZip } from '../packages/model-io/test/archive-builders.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURE = path.join(ROOT, 'packages/examples/fixtures/formats/keras3/branches.keras');
const RESULTS_DIRECTORY = path.join(ROOT, 'bench/results');

/** Bytes of padding inside the config's "name" string. */
const PADDING_BYTES = 400_000_000;
const LYING_DECLARED_BYTES = 1000;

interface CaseResult {
  file: string;
  reader: string;
  runs_ms: number[];
  error_code: string;
  message: string;
}

const readers: Record<string, (file: string) => Promise<unknown>> = {
  detectModelFormat: (file) => detectModelFormat(file),
  inspectModelFile: (file) => inspectModelFile(file),
  readModel: (file) => readModel(file),
  readKerasArchive: (file) => readKerasArchive(file),
  'readKerasArchiveInProcess (no child process)': (file) => readKerasArchiveInProcess(file, path.basename(file), {}),
};

/** Writes branches.keras with a config.json of PADDING_BYTES more bytes, and returns the archive's size. */
async function writeBomb(file: string, declaredSize: number | undefined): Promise<number> {
  const members = await withModelArchive(FIXTURE, 'branches.keras', 'Keras 3 .keras archive', {}, async (archive) => {
    const read: Record<string, Uint8Array> = {};
    for (const entry of archive.entries) read[entry.name] = await archive.read(entry);
    return read;
  });
  const head = Buffer.from('{"class_name": "Sequential", "config": {"name": "');
  const tail = Buffer.from('"}}');
  const config = Buffer.alloc(head.length + PADDING_BYTES + tail.length, 'a');
  head.copy(config, 0);
  tail.copy(config, head.length + PADDING_BYTES);

  const zipMembers = Object.entries(members).map(([name, data]) =>
    name === 'config.json'
      ? { name, data: config, method: 8 as const, deflated: deflateRawSync(config, { level: 9 }), crc: crc32(config), declaredSize }
      : { name, data, method: 8 as const },
  );
  const archive = buildZip(zipMembers);
  writeFileSync(file, archive);
  return archive.length;
}

/** Times one call. detectModelFormat returns without an error for lying.keras, whose declared sizes are all small. */
async function timeCall(reader: (file: string) => Promise<unknown>, file: string): Promise<{ ms: number; code: string; message: string }> {
  const startedAt = performance.now();
  try {
    const result = await reader(file);
    return { ms: Math.round(performance.now() - startedAt), code: 'none', message: `returned ${JSON.stringify(result).slice(0, 80)}` };
  } catch (error) {
    const ms = Math.round(performance.now() - startedAt);
    if (!isCentroidError(error)) throw error;
    return { ms, code: error.code, message: error.message };
  }
}

async function main(quick: boolean): Promise<void> {
  const runs = quick ? 1 : 3;
  const workDirectory = mkdtempSync(path.join(os.tmpdir(), 'centroid-keras-bomb-'));
  const loadAverageBefore = roundedLoadAverage();
  const startedAt = performance.now();
  const results: CaseResult[] = [];
  const archiveBytes: Record<string, number> = {};

  try {
    const files = { 'honest.keras': undefined, 'lying.keras': LYING_DECLARED_BYTES };
    for (const [name, declaredSize] of Object.entries(files)) {
      const file = path.join(workDirectory, name);
      archiveBytes[name] = await writeBomb(file, declaredSize);
      for (const [readerName, reader] of Object.entries(readers)) {
        const timings = [];
        for (let run = 0; run < runs; run++) timings.push(await timeCall(reader, file));
        const last = timings.at(-1)!;
        results.push({ file: name, reader: readerName, runs_ms: timings.map((timing) => timing.ms), error_code: last.code, message: last.message });
        console.log(`${name} ${readerName}: ${timings.map((timing) => timing.ms).join(', ')} ms, ${last.code}`);
      }
    }
  } finally {
    rmSync(workDirectory, { recursive: true, force: true });
  }

  const report = {
    created_at: new Date().toISOString(),
    quick,
    total_seconds: Math.round((performance.now() - startedAt) / 1000),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version },
    load_average_before: loadAverageBefore,
    load_average_after: roundedLoadAverage(),
    inflated_config_bytes: PADDING_BYTES,
    archive_bytes: archiveBytes,
    results,
  };
  writeFileSync(path.join(RESULTS_DIRECTORY, 'keras-config-bomb.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(RESULTS_DIRECTORY, 'keras-config-bomb.md'), formatMarkdown(report));
}

function formatMarkdown(report: {
  created_at: string;
  quick: boolean;
  total_seconds: number;
  machine: { cpu: string; cores: number; node: string };
  load_average_before: number[];
  load_average_after: number[];
  archive_bytes: Record<string, number>;
  results: CaseResult[];
}): string {
  const sizes = Object.entries(report.archive_bytes)
    .map(([name, bytes]) => `${name} ${bytes} bytes`)
    .join(', ');
  const rows = report.results.map(
    (result) => `| ${result.file} | ${result.reader} | ${result.runs_ms.join(', ')} | ${result.error_code} | ${result.message.replace(/\|/g, '\\|')} |`,
  );
  return [
    '# Rejecting a .keras config bomb',
    '',
    `Written by \`pnpm bench${report.quick ? ' --quick' : ''}\` (bench/keras-config-bomb.ts) on ${report.created_at}, in ${report.total_seconds} s.`,
    `Machine: ${report.machine.cpu}, ${report.machine.cores} cores (shared with other work), Node.js ${report.machine.node}. ` +
      `Load average before: ${report.load_average_before.join(', ')}; after: ${report.load_average_after.join(', ')}.`,
    '',
    `Each archive is branches.keras with a config.json that inflates to ${PADDING_BYTES} bytes more (${sizes}). ` +
      `honest.keras declares that size in its zip headers, and lying.keras declares ${LYING_DECLARED_BYTES} bytes. ` +
      'The time is wall time of one call, in this process; readKerasArchive and inspectModelFile start a child process for the HDF5 library.',
    '',
    '| file | reader | wall ms per run | code | message |',
    '| --- | --- | ---: | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

function roundedLoadAverage(): number[] {
  return os.loadavg().map((value) => Math.round(value * 100) / 100);
}

await main(process.argv.includes('--quick'));
