// JSON Schemas of the contracts, for the OpenAPI document and for clients in other languages.
import { z } from 'zod';

/**
 * Converts a schema to a JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) without the
 * `$schema` key, describing values as clients send them (`input`, defaults optional) or as
 * the server returns them (`output`).
 */
export function toJsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}
