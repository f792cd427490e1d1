// Validates compose.yaml with the Compose CLI and checks the settings the deployment relies on.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));
const composeFile = fileURLToPath(new URL('../compose.yaml', import.meta.url));

/** Returns the command that runs Compose here: the docker plugin, the standalone binary, or null. */
async function findCompose(): Promise<string[] | null> {
  for (const command of [['docker', 'compose'], ['docker-compose']]) {
    try {
      await run(command[0]!, [...command.slice(1), 'version'], { timeout: 20_000 });
      return command;
    } catch {
      // Try the next form.
    }
  }
  return null;
}

const compose = await findCompose();
const skip = compose === null ? 'neither `docker compose` nor `docker-compose` is installed (.ci/run installs docker-compose)' : false;

function config(env: NodeJS.ProcessEnv) {
  return run(compose![0]!, [...compose!.slice(1), '-f', composeFile, 'config'], {
    cwd: repositoryRoot,
    env: { PATH: process.env.PATH, ...env },
    timeout: 60_000,
  });
}

describe('compose.yaml', { skip }, () => {
  it('is accepted by docker compose config', async () => {
    const { stdout } = await config({ CENTROID_WEBHOOK_SECRET: 'whsec_dGVzdCBzZWNyZXQ=' });

    for (const service of ['redis:', 'api:', 'worker-gpu:']) assert.match(stdout, new RegExp(`^  ${service}`, 'm'), service);
    assert.match(stdout, /noeviction/, 'Redis must not evict BullMQ keys');
    assert.match(stdout, /appendonly/, 'Redis persists its data');
    assert.match(stdout, /capabilities:\s*\n\s*- gpu/, 'the worker reserves a GPU');
    assert.match(stdout, /artifacts:\/data/, 'API and worker share the artifact volume');
  });

  it('requires the webhook secret', async () => {
    await assert.rejects(config({}), /CENTROID_WEBHOOK_SECRET/);
  });
});

describe('container images', () => {
  for (const image of ['api', 'worker-cpu', 'worker-gpu']) {
    it(`${image} does not run as root`, async () => {
      const dockerfile = await readFile(new URL(`./${image}.Dockerfile`, import.meta.url), 'utf8');
      const users = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].map((match) => match[1]);
      assert.ok(users.length > 0, 'no USER instruction');
      assert.notEqual(users.at(-1), 'root');
    });
  }
});
