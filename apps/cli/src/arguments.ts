// Small helpers shared by the CLI commands for reading options.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { CentroidError } from '@centroid/contracts';

/** A command-line mistake: printed with the command's usage and exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A problem with the command's files: printed without a stack trace, exit code 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * Returns the folder that relative paths refer to: the one the user ran `pnpm centroid` from,
 * because pnpm runs package scripts in the repository root.
 */
export function userWorkingDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const ranThroughPnpm = env.npm_lifecycle_event === 'centroid' || env.npm_lifecycle_event === 'demo';
  return ranThroughPnpm && env.INIT_CWD ? env.INIT_CWD : process.cwd();
}

/** Resolves `file` against the user's working directory and checks that it is an existing file. */
export async function requireInputFile(file: string, option: string): Promise<string> {
  const resolved = path.resolve(userWorkingDirectory(), file);
  const found = await stat(resolved).catch(() => null);
  if (found === null) throw new CliError(`${option} file not found: ${resolved}`);
  if (!found.isFile()) throw new CliError(`${option} ${resolved} is not a file; expected a file.`);
  return resolved;
}

/** Resolves an output path and checks that its folder exists and that it is not a folder itself. */
export async function requireOutputPath(file: string, option: string): Promise<string> {
  const resolved = path.resolve(userWorkingDirectory(), file);
  const folder = await stat(path.dirname(resolved)).catch(() => null);
  if (folder === null || !folder.isDirectory()) {
    throw new CliError(`${option} ${resolved}: the folder ${path.dirname(resolved)} does not exist; create it first.`);
  }
  const existing = await stat(resolved).catch(() => null);
  if (existing?.isDirectory()) throw new CliError(`${option} ${resolved} is a folder; expected a file path.`);
  return resolved;
}

/** A file that the command reads, described as a message names it, such as `the --data dataset`. */
export interface ProtectedFile {
  path: string;
  description: string;
}

/**
 * Raises a CliError when the output path `output` of `option` is one of `files`, by path
 * or as a link to the same file (same device and inode), because writing the output
 * would replace that file.
 */
export async function rejectOutputOverFiles(output: string, option: string, files: readonly ProtectedFile[]): Promise<void> {
  for (const file of files) {
    if (await isSameFile(output, file.path)) {
      throw new CliError(`${option} ${output} is ${file.description}; choose another path so that it is not overwritten.`);
    }
  }
}

async function isSameFile(a: string, b: string): Promise<boolean> {
  if (a === b) return true;
  const [statsA, statsB] = await Promise.all([stat(a).catch(() => null), stat(b).catch(() => null)]);
  return statsA !== null && statsB !== null && statsA.dev === statsB.dev && statsA.ino === statsB.ino;
}

const NEGATIVE_NUMBER = /^-(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Returns `argv` with each `--option -N` joined into `--option=-N`, where the option takes
 * a value and -N is a negative decimal number. node:util parseArgs (Node 20) rejects an
 * option value that starts with '-' as ambiguous, so without this `--epochs -1` would not
 * reach the range check that `--epochs=-1` gets. Arguments after `--` are left as they are.
 */
export function joinNegativeNumberValues(argv: readonly string[], options: Record<string, { type: 'string' | 'boolean' }>): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i] as string;
    if (argument === '--') {
      joined.push(...argv.slice(i));
      break;
    }

    const next = argv[i + 1];
    const takesValue = argument.startsWith('--') && options[argument.slice(2)]?.type === 'string';
    if (takesValue && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      joined.push(`${argument}=${next}`);
      i++;
    } else {
      joined.push(argument);
    }
  }
  return joined;
}

/** Parses a numeric option; undefined stays undefined so defaults apply. */
export function toNumber(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  // A decimal number such as 8, 0.5 or 1e-5. Number() alone would also take '0x10' and ' 8 '.
  const isDecimal = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value);
  const number = isDecimal ? Number(value) : Number.NaN;
  if (!Number.isFinite(number)) {
    throw new CentroidError('PARAMS_INVALID', `Invalid value for ${option}: expected a number, found '${value}'.`, {
      field: option,
    });
  }
  return number;
}

export async function readParamsFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CentroidError('PARAMS_INVALID', `Cannot read the parameters file ${file}: ${(error as Error).message}`, {
      file,
    });
  }
  // Some Windows tools start UTF-8 files with a byte order mark, which JSON.parse rejects.
  const json = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (json.includes('\0')) {
    // JSON.parse would quote the file's first bytes, control characters included, into the message.
    throw new CentroidError('PARAMS_INVALID', `Invalid parameters file ${file}: it contains NUL bytes, so it is a binary file, not JSON text.`, {
      file,
    });
  }
  try {
    const parsed: unknown = JSON.parse(json);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('expected a JSON object');
    return parsed as Record<string, unknown>;
  } catch (error) {
    throw new CentroidError('PARAMS_INVALID', `Invalid parameters file ${file}: ${(error as Error).message}.`, { file });
  }
}
