// Runs every benchmark in this folder (each `*.ts` file other than this one) in its own
// Node.js process, one after another, passing the command-line arguments on, so that
// `pnpm bench --quick` reaches each of them. Results land in bench/results/.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDirectory = path.dirname(fileURLToPath(import.meta.url));
const benchFiles = readdirSync(benchDirectory)
  .filter((name) => name.endsWith('.ts') && name !== 'run.ts')
  .sort();

let failures = 0;
for (const name of benchFiles) {
  console.log(`bench ${name}: started`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(benchDirectory, name), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    failures++;
    console.error(`bench ${name}: failed with exit code ${result.status ?? `null (signal ${result.signal})`}`);
  } else {
    console.log(`bench ${name}: finished`);
  }
}
process.exitCode = failures === 0 ? 0 : 1;
