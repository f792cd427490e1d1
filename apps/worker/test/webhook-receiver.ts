// A local webhook receiver for end-to-end tests: records every POST and responds 204, or with
// the statuses scripted for the next requests.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  headers: Record<string, string>;
  body: string;
  /** Status code returned for this request. */
  status: number;
}

/** Records every POST it receives and returns 204. */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private readonly server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const status = this.statuses.shift() ?? 204;
      this.received.push({ headers: request.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8'), status });
      response.writeHead(status).end();
    });
  });

  private statuses: number[] = [];

  /** Returns these statuses to the next requests, in order, and 204 after them. */
  script(...statuses: number[]): void {
    this.statuses = statuses;
  }

  async start(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/centroid`;
  }

  /** Waits for the `count`-th request about `jobId` and returns it. */
  async waitFor(jobId: string, timeoutMs = 10_000, count = 1): Promise<ReceivedWebhook> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.received.filter((webhook) => webhook.body.includes(jobId))[count - 1];
      if (match !== undefined) return match;
      if (Date.now() > deadline) throw new Error(`no webhook for job ${jobId} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}
