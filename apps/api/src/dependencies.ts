// Services and settings that the routes use, gathered in one object so that tests can build
// the app around their own Redis prefix and data folder.
import type { WorkerRecord } from '@centroid/contracts';
import type { ArtifactStore, CancelSignal, ClusterQueue, IdempotencyKeys, JobStore } from '@centroid/jobs';
import type { UploadLimits } from './job-submission.js';
import type { DatasetInspector } from './dataset-check.js';
import type { ModelInspector } from './model-check.js';
import type { SharedMetrics } from './routes/metrics.js';

export interface RouteDependencies {
  store: JobStore;
  queue: Pick<ClusterQueue, 'add'>;
  artifacts: ArtifactStore;
  cancelSignal: Pick<CancelSignal, 'request'>;
  /** Idempotency keys of POST /v1/jobs. */
  idempotency: Pick<IdempotencyKeys, 'claim' | 'complete' | 'release'>;
  /** Sends PING to Redis, for /readyz. */
  pingRedis: () => Promise<unknown>;
  /** Returns the workers whose heartbeat has not expired, for /readyz (`WorkerRegistry.list`). */
  listWorkers: () => Promise<WorkerRecord[]>;
  /** Reads the queue depths and the workers' counters from Redis, for /metrics. */
  readSharedMetrics: () => Promise<SharedMetrics>;
  limits: UploadLimits;
  inspectModel: ModelInspector;
  inspectDataset: DatasetInspector;
  /** Base of the URLs in job resources, such as `https://centroid.example.com`, or undefined to use the request's host. */
  publicUrl: string | undefined;
  /** Whether webhook URLs may name loopback, private, link-local, CGNAT and reserved IP addresses. */
  allowPrivateWebhooks: boolean;
  /** Returns true once the server is draining, so /readyz reports not ready. */
  isShuttingDown: () => boolean;
}
