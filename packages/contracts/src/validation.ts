// Turns zod issues into the product's error with every field at fault named.
import type { z } from 'zod';
import { CentroidError } from './errors.js';

export interface FieldIssue {
  field: string;
  message: string;
}

export function describeIssues(error: z.ZodError, prefix = ''): FieldIssue[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter((part) => part !== '').join('.');
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((key) => (path === '' ? key : `${path}.${key}`));
      return { field: keys[0] ?? path, message: `unknown field ${keys.map((k) => `'${k}'`).join(', ')}` };
    }
    return { field: path === '' ? '(root)' : path, message: issue.message };
  });
}

/** Error raised for invalid parameters; `issues` lists each field at fault. */
export class ParamsError extends CentroidError {
  readonly issues: FieldIssue[];

  constructor(issues: FieldIssue[]) {
    const summary = issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ');
    super('PARAMS_INVALID', `Invalid job parameters: ${summary}`, { field: issues[0]?.field ?? '(root)' });
    this.issues = issues;
  }
}

/**
 * Replaces zod's "Invalid input: expected number, received undefined" for a required field
 * that is absent. Other issues keep zod's message.
 */
const missingFieldMessage: z.core.$ZodErrorMap = (issue) =>
  issue.code === 'invalid_type' && issue.input === undefined ? `Missing required value: expected ${issue.expected}.` : undefined;

/** Parses a schema and raises a ParamsError naming every field at fault. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(value, { error: missingFieldMessage });
  if (!result.success) throw new ParamsError(describeIssues(result.error, prefix));
  return result.data;
}
