// Submits multipart bodies to a test app and checks rejections, including that a rejected
// request leaves no upload folder behind. Folders of accepted jobs are expected to stay.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Job, Problem } from '@centroid/contracts';
import type { ApiFixture } from './api-fixture.js';
import { buildMultipart, type PartSpec } from './multipart-body.js';

export interface SubmissionChecks {
  submit(parts: PartSpec[]): ReturnType<ApiFixture['app']['inject']>;
  /** Returns upload folders that belong to no accepted job. */
  strayUploadFolders(): Promise<string[]>;
  /** Checks the status, code and field of a rejection and that it left no uploads, then returns the problem. */
  assertProblem(response: Awaited<ReturnType<SubmissionChecks['submit']>>, status: number, code: string, field: string): Promise<Problem>;
}

/** Returns submission helpers bound to the fixture returned by `getFixture`, read at each call. */
export function createSubmissionChecks(getFixture: () => ApiFixture): SubmissionChecks {
  const acceptedJobIds = new Set<string>();

  const submit = async (parts: PartSpec[]) => {
    const body = buildMultipart(parts);
    const response = await getFixture().app.inject({ method: 'POST', url: '/v1/jobs', payload: body.payload, headers: body.headers });
    if (response.statusCode === 202) acceptedJobIds.add(response.json<Job>().id);
    return response;
  };

  const strayUploadFolders = async (): Promise<string[]> => {
    const folders = await readdir(path.join(getFixture().dataDir, 'uploads')).catch(() => []);
    return folders.filter((folder) => !acceptedJobIds.has(folder));
  };

  const assertProblem: SubmissionChecks['assertProblem'] = async (response, status, code, field) => {
    assert.equal(response.statusCode, status, response.body);
    const problem = response.json<Problem>();
    assert.equal(problem.code, code, problem.detail);
    assert.equal(problem.field, field);
    assert.deepEqual(await strayUploadFolders(), [], 'rejected uploads are removed');
    return problem;
  };

  return { submit: submit as SubmissionChecks['submit'], strayUploadFolders, assertProblem };
}
