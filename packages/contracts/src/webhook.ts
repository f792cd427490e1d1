// The body of the webhook POST sent when a job ends.
import { z } from 'zod';
import { JobSchema } from './job.js';

export const WEBHOOK_EVENT_TYPES = ['job.succeeded', 'job.failed', 'job.canceled'] as const;

export const WebhookPayloadSchema = z.object({
  type: z.enum(WEBHOOK_EVENT_TYPES),
  timestamp: z.string(),
  data: JobSchema,
});
export type WebhookPayload = z.infer<typeof WebhookPayloadSchema>;
