// GET /openapi.json, the OpenAPI 3.1 document, and GET /docs, an interactive page over it.
// The page's scripts and styles are served from the installed package, so it works offline.
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { buildOpenApiDocument } from '../openapi.js';

export async function registerApiDocs(app: FastifyInstance, publicUrl: string | undefined): Promise<void> {
  const document = buildOpenApiDocument(publicUrl);
  await app.register(fastifySwagger, { mode: 'static', specification: { document: document as never } });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => document);
}
