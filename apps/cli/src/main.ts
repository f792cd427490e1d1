#!/usr/bin/env node
// Entry point of the `centroid` command.
import { isCentroidError, ParamsError } from '@centroid/contracts';
import { CliError, UsageError } from './arguments.js';
import { RUN_USAGE, runCommand } from './run-command.js';
import { DEMO_USAGE, demoCommand } from './demo-command.js';

const USAGE = `Usage: centroid COMMAND [options]

Commands:
  run MODEL.h5 ...   cluster a model in-process on local files (no server needed)
  demo               start Redis, the API and a worker, and cluster the bundled MNIST model

Run 'centroid COMMAND --help' for the options of a command.
`;

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; usage: string }> = {
  run: { run: runCommand, usage: RUN_USAGE },
  demo: { run: demoCommand, usage: DEMO_USAGE },
};

const FILE_SYSTEM_ERROR_CODES = new Set(['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'ENOSPC', 'EROFS', 'EEXIST']);

function isFileSystemError(error: unknown): boolean {
  return error instanceof Error && FILE_SYSTEM_ERROR_CODES.has((error as NodeJS.ErrnoException).code ?? '');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`error: unknown command '${name}'\n\n${USAGE}`);
    return 2;
  }

  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\n\n${error.usage}`);
      return 2;
    }
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`error: ${describeParseError(error as Error & { code: string })}\nRun 'centroid ${name} --help' for the options.\n`);
      return 2;
    }
    if (error instanceof ParamsError) {
      const lines = error.issues.map((issue) => `  ${withOptionName(issue.field, command.usage)}: ${issue.message}`);
      process.stderr.write(`error PARAMS_INVALID:\n${lines.join('\n')}\n`);
      return 1;
    }
    if (isCentroidError(error)) {
      process.stderr.write(`error ${error.code}: ${error.message}\n`);
      return 1;
    }
    if (error instanceof CliError || isFileSystemError(error)) {
      process.stderr.write(`error: ${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  }
}

/** Rewords an error of node:util parseArgs, whose messages explain its own API, for a CLI user. */
function describeParseError(error: Error & { code: string }): string {
  const option = /'(-[^'\s]*)/.exec(error.message)?.[1];
  if (option === undefined) return error.message;
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option '${option}'`;
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return /does not take an argument/.test(error.message) ? `option '${option}' takes no value` : `option '${option}' needs a value`;
  }
  return error.message;
}

/**
 * Returns a parameter path such as `fine_tune.batch_size` followed by the command-line option
 * that sets it, `(--batch-size)`, when the command's usage lists one. A field of a `layers`
 * rule gets no option, because the options set the job-wide value, not the rule's.
 */
function withOptionName(field: string, usage: string): string {
  if (field === 'layers' || field.startsWith('layers.')) return field;
  const lastSegment = field.split('.').pop() ?? field;
  const option = `--${lastSegment.replaceAll('_', '-')}`;
  const listed = new RegExp(`(^|[\\s,])${option}([\\s,]|$)`, 'm').test(usage);
  return listed ? `${field} (${option})` : field;
}

process.exitCode = await main(process.argv.slice(2));
