// RFC 9457 problem details, the body of every error response.
import { z } from 'zod';
import { ERROR_CODES, type CentroidError, type ErrorCode } from './errors.js';

export const ProblemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string(),
  request_id: z.string().optional(),
  field: z.string().optional(),
  layer: z.string().optional(),
  file: z.string().optional(),
  /** For validation failures: every field at fault. */
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
});
export type Problem = z.infer<typeof ProblemSchema>;

export function problemTypeUri(code: ErrorCode): string {
  return `https://centroid.dev/problems/${code.toLowerCase().replaceAll('_', '-')}`;
}

/** Builds the problem+json body for an error. */
export function toProblem(error: CentroidError, requestId?: string, errors?: Problem['errors']): Problem {
  const { status, title } = ERROR_CODES[error.code];
  return {
    type: problemTypeUri(error.code),
    title,
    status,
    detail: error.message,
    code: error.code,
    ...(requestId === undefined ? {} : { request_id: requestId }),
    ...error.location,
    ...(errors === undefined ? {} : { errors }),
  };
}
