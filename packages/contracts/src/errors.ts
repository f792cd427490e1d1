// The product's one registry of error codes. The same code reaches the log, the job's
// `error` and the problem+json body, so codes are stable and never reused.

/** HTTP status and title for each error code. */
export const ERROR_CODES = {
  REQUEST_INVALID: { status: 400, title: 'Invalid request' },
  IDEMPOTENCY_KEY_IN_USE: { status: 409, title: 'Idempotency key in use' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'Idempotency key reused' },
  PARAMS_INVALID: { status: 422, title: 'Invalid job parameters' },
  UPLOAD_MISSING: { status: 400, title: 'Missing upload' },
  UPLOAD_TOO_LARGE: { status: 413, title: 'Upload too large' },
  UPLOAD_NOT_MULTIPART: { status: 415, title: 'Expected multipart/form-data' },
  MEDIA_TYPE_UNSUPPORTED: { status: 415, title: 'Unsupported request body type' },
  MODEL_FORMAT_UNSUPPORTED: { status: 415, title: 'Unsupported model format' },
  MODEL_INVALID: { status: 422, title: 'Invalid model file' },
  MODEL_LAYER_UNSUPPORTED: { status: 422, title: 'Unsupported layer' },
  MODEL_WEIGHTS_MISMATCH: { status: 422, title: 'Model weights do not match its config' },
  LAYER_NOT_CLUSTERABLE: { status: 422, title: 'Layer cannot be clustered' },
  DATASET_INVALID: { status: 422, title: 'Invalid dataset file' },
  DATASET_ARRAY_MISSING: { status: 422, title: 'Dataset array missing' },
  DATASET_SHAPE_MISMATCH: { status: 422, title: 'Dataset shape does not fit the model' },
  DATASET_REQUIRED: { status: 422, title: 'Dataset required' },
  LOSS_UNSUPPORTED: { status: 422, title: 'Unsupported loss' },
  JOB_NOT_FOUND: { status: 404, title: 'Job not found' },
  ROUTE_NOT_FOUND: { status: 404, title: 'Route not found' },
  URI_TOO_LONG: { status: 414, title: 'URI too long' },
  REQUEST_HEADERS_TOO_LARGE: { status: 431, title: 'Request header fields too large' },
  REQUEST_TIMEOUT: { status: 408, title: 'Request timeout' },
  ARTIFACT_NOT_FOUND: { status: 404, title: 'Artifact not found' },
  RANGE_NOT_SATISFIABLE: { status: 416, title: 'Range not satisfiable' },
  SERVICE_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  BACKEND_UNAVAILABLE: { status: 503, title: 'TensorFlow.js backend unavailable' },
  JOB_CANCELED: { status: 409, title: 'Job canceled' },
  WORKER_CRASHED: { status: 500, title: 'Worker process crashed' },
  INTERNAL: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Location of an error: the parameter, layer or file at fault. */
export interface ErrorLocation {
  /** Dotted path of the job parameter or form field at fault, such as `fine_tune.batch_size`. */
  field?: string;
  /** Name of the model layer at fault. */
  layer?: string;
  /** Name of the uploaded file or archive entry at fault. */
  file?: string;
}

/** An expected failure with a stable code; anything else is reported as `INTERNAL`. */
export class CentroidError extends Error {
  readonly code: ErrorCode;
  readonly location: ErrorLocation;

  constructor(code: ErrorCode, message: string, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CentroidError';
    this.code = code;
    this.location = location;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

export function isCentroidError(error: unknown): error is CentroidError {
  return error instanceof CentroidError;
}

/** The arrays of one split of a dataset, for messages about both. */
export interface SplitArrays {
  /** The dataset file, as the user named it. */
  file: string;
  /** The inputs array's name and its number of samples, or null when it has no shape. */
  inputs: { name: string; samples: number | null };
  /** The labels array's name, its parameter (`dataset.y_train`) and its number of labels. */
  labels: { name: string; field: string; samples: number | null };
}

/** Returns the DATASET_SHAPE_MISMATCH for a labels array whose count differs from its inputs'. */
export function labelCountMismatch({ file, inputs, labels }: SplitArrays): CentroidError {
  return new CentroidError(
    'DATASET_SHAPE_MISMATCH',
    `Dataset ${file} has ${inputs.samples ?? 'no'} samples in '${inputs.name}' but ${labels.samples ?? 'no'} labels in '${labels.name}'; expected one label per sample.`,
    { field: labels.field, file },
  );
}
