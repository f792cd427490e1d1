import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ServiceCounters, createJobId } from '@centroid/jobs';
import { createApiFixture, type ApiFixture } from './api-fixture.js';

/** Returns the value of the sample whose name and labels are exactly `series`, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('GET /metrics', () => {
  let fixture: ApiFixture;
  let counters: ServiceCounters;

  before(async () => {
    fixture = await createApiFixture();
    counters = new ServiceCounters({ connection: fixture.redis, prefix: fixture.prefix });
  });

  after(() => fixture.close());

  const scrape = async (): Promise<string> => {
    const response = await fixture.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^text\/plain/);
    return response.body;
  };

  it('counts requests by route template', async () => {
    await fixture.app.inject({ method: 'GET', url: '/v1/jobs/00000000000000000000000000' });
    await fixture.app.inject({ method: 'GET', url: '/v1/jobs/00000000000000000000000001' });
    await fixture.app.inject({ method: 'GET', url: '/no/such/path' });
    const text = await scrape();

    assert.equal(sample(text, 'centroid_http_requests_total{method="GET",route="/v1/jobs/:id",status="404"}'), 2);
    assert.equal(sample(text, 'centroid_http_requests_total{method="GET",route="unmatched",status="404"}'), 1);
    assert.ok(!text.includes('/no/such/path'), 'an unmatched path must not become a label');
    assert.equal(sample(text, 'centroid_http_request_duration_seconds_count{method="GET",route="/v1/jobs/:id"}'), 2);
    assert.ok((sample(text, 'centroid_api_process_resident_memory_bytes') ?? 0) > 0);
  });

  it('reports queue depth', async () => {
    await fixture.queue.add({ jobId: createJobId(), model: { path: '/nonexistent/model.h5', filename: 'model.h5' }, dataset: null });
    const text = await scrape();

    assert.equal(sample(text, 'centroid_queue_jobs{queue="cluster",state="waiting"}'), 1);
    assert.equal(sample(text, 'centroid_queue_jobs{queue="webhook",state="waiting"}'), 0);
  });

  it('reports the workers counters', async () => {
    await counters.recordJobFinished('succeeded', 5);
    await counters.recordJobFinished('succeeded', 100);
    await counters.recordJobFinished('canceled', null);
    await counters.recordWebhookOutcome('delivered');
    await counters.recordWebhookOutcome('delivered');
    await counters.recordWebhookOutcome('gone');
    const text = await scrape();

    assert.equal(sample(text, 'centroid_jobs_finished_total{status="succeeded"}'), 2);
    assert.equal(sample(text, 'centroid_jobs_finished_total{status="canceled"}'), 1);
    assert.equal(sample(text, 'centroid_job_duration_seconds_bucket{status="succeeded",le="10"}'), 1);
    assert.equal(sample(text, 'centroid_job_duration_seconds_bucket{status="succeeded",le="60"}'), 1);
    assert.equal(sample(text, 'centroid_job_duration_seconds_bucket{status="succeeded",le="300"}'), 2);
    assert.equal(sample(text, 'centroid_job_duration_seconds_bucket{status="succeeded",le="+Inf"}'), 2);
    assert.equal(sample(text, 'centroid_job_duration_seconds_sum{status="succeeded"}'), 105);
    assert.equal(sample(text, 'centroid_job_duration_seconds_count{status="canceled"}'), undefined, 'a job that never ran has no duration');
    assert.equal(sample(text, 'centroid_webhook_deliveries_total{outcome="delivered"}'), 2);
    assert.equal(sample(text, 'centroid_webhook_deliveries_total{outcome="gone"}'), 1);
  });
});
