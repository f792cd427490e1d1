// A local receiver for the demo's completion webhook that checks the Standard Webhooks signature.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '@centroid/webhooks';

export interface ReceivedWebhook {
  type: string;
  verified: boolean;
  error: string | null;
}

export interface WebhookReceiver {
  url: string;
  /** Resolves with the first webhook received. */
  received: Promise<ReceivedWebhook>;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 16 * 1024 * 1024;

export async function startWebhookReceiver(secret: string): Promise<WebhookReceiver> {
  let deliver: (webhook: ReceivedWebhook) => void = () => undefined;
  const received = new Promise<ReceivedWebhook>((resolve) => {
    deliver = resolve;
  });

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(
        Object.entries(request.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : (value ?? '')]),
      );
      try {
        const payload = verifyWebhook(secret, headers, body) as { type?: string };
        deliver({ type: payload.type ?? 'unknown', verified: true, error: null });
        response.writeHead(204).end();
      } catch (error) {
        deliver({ type: 'unknown', verified: false, error: (error as Error).message });
        response.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/webhook`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
