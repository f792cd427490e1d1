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

/**
 * The data of a BullMQ job on the `webhook` queue. The body is fixed when the job ends, so
 * every attempt sends the same bytes under the same `webhook-id`.
 */
export const WebhookDeliveryDataSchema = z.object({
  jobId: z.string().min(1),
  url: z.url({ protocol: /^https?$/ }),
  /** Value of the `webhook-id` header. */
  webhookId: z.string().min(1),
  /** JSON body of the event, a WebhookPayload. */
  body: z.string().min(2),
});
export type WebhookDeliveryData = z.infer<typeof WebhookDeliveryDataSchema>;
