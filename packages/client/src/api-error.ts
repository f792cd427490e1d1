// The error the client raises for every non-2xx response. It is a CentroidError, so callers
// can switch on `code` exactly as server code does, and it carries the problem body as sent.
import { CentroidError, ERROR_CODES, ProblemSchema, type ErrorCode, type Problem } from '@centroid/contracts';

export class CentroidApiError extends CentroidError {
  /** The problem+json body, or one built from the status line when the server sent none. */
  readonly problem: Problem;

  constructor(problem: Problem) {
    const code = problem.code in ERROR_CODES ? (problem.code as ErrorCode) : 'INTERNAL';
    super(code, problem.detail, {
      ...(problem.field === undefined ? {} : { field: problem.field }),
      ...(problem.layer === undefined ? {} : { layer: problem.layer }),
      ...(problem.file === undefined ? {} : { file: problem.file }),
    });
    this.name = 'CentroidApiError';
    this.problem = problem;
  }

  /** HTTP status of the response, which may differ from the registry's status for `code`. */
  override get status(): number {
    return this.problem.status;
  }
}

/** Builds the error for a failed response, reading its problem+json body when there is one. */
export async function toApiError(response: Response): Promise<CentroidApiError> {
  const text = await response.text();
  const contentType = response.headers.get('content-type') ?? '';

  if (contentType.includes('json')) {
    try {
      const parsed = ProblemSchema.safeParse(JSON.parse(text));
      if (parsed.success) return new CentroidApiError(parsed.data);
    } catch {
      // Not JSON after all, so the status line describes the failure below.
    }
  }

  return new CentroidApiError({
    type: 'about:blank',
    title: response.statusText,
    status: response.status,
    detail: `${response.url} returned HTTP ${response.status}${text === '' ? '' : `: ${text.slice(0, 500)}`}`,
    code: response.status >= 500 ? 'INTERNAL' : 'REQUEST_INVALID',
  });
}
