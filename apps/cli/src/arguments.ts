// Small helpers shared by the CLI commands for reading options.
import { readFile } from 'node:fs/promises';
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

/** Parses a numeric option; undefined stays undefined so defaults apply. */
export function toNumber(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number)) {
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
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('expected a JSON object');
    return parsed as Record<string, unknown>;
  } catch (error) {
    throw new CentroidError('PARAMS_INVALID', `Invalid parameters file ${file}: ${(error as Error).message}.`, { file });
  }
}
