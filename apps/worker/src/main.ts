// Starts a worker from environment variables (see config.ts) and stops it on SIGTERM or
// SIGINT, giving running jobs until CENTROID_SHUTDOWN_DEADLINE_MS to finish.
import { selectBackend } from '@centroid/engine';
import { pino } from 'pino';
import { readWorkerConfig } from './config.js';
import { startWorker } from './start-worker.js';

async function main(): Promise<void> {
  const config = readWorkerConfig(process.env);
  const log = pino({ level: config.logLevel });

  if (config.webhookSecret === undefined) log.warn('CENTROID_WEBHOOK_SECRET is not set, so jobs with a webhook URL record that none was sent');
  if (config.allowPrivateWebhooks === true) log.warn('CENTROID_WEBHOOK_ALLOW_PRIVATE=1: webhooks may reach loopback and private addresses');

  // Each job's child process selects its backend the same way. Selecting it here as well logs the
  // choice at start, and a forced CENTROID_BACKEND that cannot load stops the worker at once.
  const backend = await selectBackend();
  for (const skipped of backend.skipped) log.info({ backend: skipped.name, reason: skipped.reason }, 'backend skipped');
  log.info({ backend: backend.name, version: backend.version }, 'backend selected');

  const worker = await startWorker({ ...config, backend: { name: backend.name, version: backend.version }, logger: log });

  const shutdown = (signal: string): void => {
    log.info({ signal }, 'shutdown requested');
    worker.close(config.shutdownDeadlineMs).then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'worker did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
