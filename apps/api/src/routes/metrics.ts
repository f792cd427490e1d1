// GET /metrics in the Prometheus text format: this API process's requests and resources, the
// depth of the queues, and the finished jobs and webhook outcomes that every worker counts in
// Redis. Any API replica reports the same queue and worker totals.
import { ClusterQueue, JOB_DURATION_BUCKETS, ServiceCounters, WebhookQueue, type CounterSnapshot, type RedisConnection } from '@centroid/jobs';
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Data from Redis that the metrics report, read on each scrape. */
export interface SharedMetrics {
  /** Job counts by state (`waiting`, `active`, `delayed`...) of each queue, by queue name. */
  queues: Record<string, Record<string, number>>;
  counters: CounterSnapshot;
}

/** Returns a reader of the shared metrics under `prefix`, for the cluster and webhook queues of that prefix. */
export function createSharedMetricsReader(connection: RedisConnection, prefix: string): () => Promise<SharedMetrics> {
  const cluster = new ClusterQueue({ connection, prefix });
  const webhook = new WebhookQueue({ connection, prefix });
  const counters = new ServiceCounters({ connection, prefix });
  return async () => {
    const [clusterCounts, webhookCounts, snapshot] = await Promise.all([cluster.countByState(), webhook.countByState(), counters.read()]);
    return { queues: { [cluster.name]: clusterCounts, [webhook.name]: webhookCounts }, counters: snapshot };
  };
}

export function registerMetricsRoute(app: FastifyInstance, readShared: () => Promise<SharedMetrics>): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'centroid_api_' });
  const requests = new Counter({
    name: 'centroid_http_requests_total',
    help: 'HTTP responses sent, by method, route and status.',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'centroid_http_request_duration_seconds',
    help: 'Time from request to response, uploads included, by method and route.',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.025, 0.1, 0.5, 2, 10, 60, 300],
    registers: [registry],
  });

  app.addHook('onResponse', async (request, reply) => {
    // Unmatched URLs share one label, so scanners cannot create a series per path.
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    durations.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    const shared = await readShared();
    const text = `${await registry.metrics()}${formatSharedMetrics(shared)}`;
    return reply.type(registry.contentType).send(text);
  });
}

/** Formats the Redis-held metrics in the Prometheus text format. */
export function formatSharedMetrics({ queues, counters }: SharedMetrics): string {
  const lines: string[] = [];
  const escape = (value: string): string => value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
  const header = (name: string, type: string, help: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

  header('centroid_queue_jobs', 'gauge', 'Queue jobs by queue and state.');
  for (const [queue, counts] of Object.entries(queues)) {
    for (const [state, count] of Object.entries(counts)) lines.push(`centroid_queue_jobs{queue="${escape(queue)}",state="${escape(state)}"} ${count}`);
  }

  header('centroid_jobs_finished_total', 'counter', 'Jobs finished, by final status, counted by the workers.');
  for (const [status, count] of Object.entries(counters.jobsFinished)) lines.push(`centroid_jobs_finished_total{status="${escape(status)}"} ${count}`);

  header('centroid_job_duration_seconds', 'histogram', 'Time from start to end of jobs that ran, by final status.');
  for (const [status, histogram] of Object.entries(counters.jobDurations)) {
    const label = `status="${escape(status)}"`;
    JOB_DURATION_BUCKETS.forEach((bound, index) => lines.push(`centroid_job_duration_seconds_bucket{${label},le="${bound}"} ${histogram.buckets[index] ?? 0}`));
    lines.push(`centroid_job_duration_seconds_bucket{${label},le="+Inf"} ${histogram.count}`);
    lines.push(`centroid_job_duration_seconds_sum{${label}} ${histogram.sumSeconds}`);
    lines.push(`centroid_job_duration_seconds_count{${label}} ${histogram.count}`);
  }

  header('centroid_webhook_deliveries_total', 'counter', 'Webhook deliveries ended, by outcome.');
  for (const [outcome, count] of Object.entries(counters.webhookDeliveries)) {
    lines.push(`centroid_webhook_deliveries_total{outcome="${escape(outcome)}"} ${count}`);
  }
  return `${lines.join('\n')}\n`;
}
