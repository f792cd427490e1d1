// GET /v1/jobs/{id}/artifacts/{name}: streams an artifact with its length, its SHA-256 and
// single-range support, so large models can be resumed.
import { createReadStream } from 'node:fs';
import { CentroidError } from '@centroid/contracts';
import { isJobId } from '@centroid/jobs';
import type { FastifyInstance } from 'fastify';
import { parseByteRange } from '../byte-range.js';
import type { RouteDependencies } from '../dependencies.js';
import { sendProblem } from '../problem-reply.js';
import { jobNotFound } from './read-jobs.js';

export function registerDownloadArtifactRoute(app: FastifyInstance, { store, artifacts }: RouteDependencies): void {
  app.get<{ Params: { id: string; name: string } }>('/v1/jobs/:id/artifacts/:name', async (request, reply) => {
    const { id, name } = request.params;
    const job = isJobId(id) ? await store.get(id) : null;
    if (job === null) throw jobNotFound(id);

    const notFound = new CentroidError('ARTIFACT_NOT_FOUND', `Job '${id}' has no artifact '${name}'. Its artifacts are listed in the job resource.`);
    const artifact = job.artifacts.find((candidate) => candidate.name === name);
    if (artifact === undefined) throw notFound;

    const file = await artifacts.findArtifact(id, name);
    if (file === null) {
      request.log.error({ jobId: id, artifact: name }, 'artifact listed on the job is missing from the artifact store');
      throw notFound;
    }

    const etag = `"${artifact.sha256}"`;
    const sha256Base64 = Buffer.from(artifact.sha256, 'hex').toString('base64');
    reply.headers({ 'accept-ranges': 'bytes', etag });

    // If-Range requests the range only while the file is still the one the client saw.
    const ifRange = request.headers['if-range'];
    const rangeHeader = ifRange === undefined || ifRange === etag ? request.headers.range : undefined;
    const range = parseByteRange(rangeHeader, file.bytes);

    if (range === 'unsatisfiable') {
      const error = new CentroidError('RANGE_NOT_SATISFIABLE', `Range '${rangeHeader}' lies outside artifact '${name}' of ${file.bytes} bytes.`);
      return sendProblem(reply, error, { 'content-range': `bytes */${file.bytes}` });
    }

    // Only a response that carries the file describes it: a 416 problem body is no attachment.
    reply.headers({
      'content-type': artifact.content_type,
      'content-disposition': `attachment; filename="${name}"`,
      digest: `sha-256=${sha256Base64}`,
      'repr-digest': `sha-256=:${sha256Base64}:`,
      'x-checksum-sha256': artifact.sha256,
    });

    if (range === null) {
      reply.header('content-length', file.bytes);
      return reply.code(200).send(createReadStream(file.path));
    }

    reply.header('content-range', `bytes ${range.start}-${range.end}/${file.bytes}`);
    reply.header('content-length', range.end - range.start + 1);
    return reply.code(206).send(createReadStream(file.path, { start: range.start, end: range.end }));
  });
}
