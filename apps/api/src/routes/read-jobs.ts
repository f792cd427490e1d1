// GET /v1/jobs/{id}, GET /v1/jobs/{id}/artifacts and GET /v1/jobs: the job resource, its
// artifact list and the paged job list.
import { CentroidError, DEFAULT_JOB_PAGE_SIZE, MAX_JOB_PAGE_SIZE, type Artifact, type JobPage } from '@centroid/contracts';
import { isJobId } from '@centroid/jobs';
import type { FastifyInstance } from 'fastify';
import type { RouteDependencies } from '../dependencies.js';
import { baseUrlOf, presentJob } from '../job-presenter.js';

export function jobNotFound(id: string): CentroidError {
  return new CentroidError('JOB_NOT_FOUND', `No job has the id '${id}'.`);
}

export function registerReadJobRoutes(app: FastifyInstance, { store, publicUrl }: RouteDependencies): void {
  app.get<{ Params: { id: string } }>('/v1/jobs/:id', async (request) => {
    const { id } = request.params;
    const job = isJobId(id) ? await store.get(id) : null;
    if (job === null) throw jobNotFound(id);
    return presentJob(job, baseUrlOf(request, publicUrl));
  });

  // The list is empty until the job succeeds, because the worker publishes artifacts only then.
  app.get<{ Params: { id: string } }>('/v1/jobs/:id/artifacts', async (request): Promise<{ artifacts: Artifact[] }> => {
    const { id } = request.params;
    const job = isJobId(id) ? await store.get(id) : null;
    if (job === null) throw jobNotFound(id);
    return { artifacts: presentJob(job, baseUrlOf(request, publicUrl)).artifacts };
  });

  app.get<{ Querystring: { limit?: string; cursor?: string } }>('/v1/jobs', async (request): Promise<JobPage> => {
    const limit = parseLimit(request.query.limit);
    const cursor = request.query.cursor;

    const page = await store.list({ limit, ...(cursor === undefined || cursor === '' ? {} : { cursor }) });
    const baseUrl = baseUrlOf(request, publicUrl);
    return { jobs: page.jobs.map((job) => presentJob(job, baseUrl)), next_cursor: page.nextCursor };
  });
}

function parseLimit(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_JOB_PAGE_SIZE;

  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_JOB_PAGE_SIZE) {
    throw new CentroidError('REQUEST_INVALID', `Invalid limit '${value}': expected an integer from 1 to ${MAX_JOB_PAGE_SIZE}.`, {
      field: 'limit',
    });
  }
  return limit;
}
