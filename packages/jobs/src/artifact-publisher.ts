// Atomic publication of a job's artifacts: the files are gathered in a staging folder,
// hashed and synced, and the folder is renamed into place in one step, so a reader finds
// either every artifact or none.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

export interface ArtifactFile {
  /** File name in the published folder, such as `model.h5`. */
  name: string;
  /** Current location of the file. It is moved, not copied, when on the same file system. */
  path: string;
  contentType: string;
}

export interface PublishedArtifact {
  name: string;
  path: string;
  bytes: number;
  /** Lower-case hex SHA-256 of the content. */
  sha256: string;
  contentType: string;
}

const ARTIFACT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isArtifactName(name: string): boolean {
  return ARTIFACT_NAME_PATTERN.test(name);
}

/** Moves `files` into `destination` atomically and returns each one's size and checksum. */
export async function publishFolder(files: ArtifactFile[], destination: string): Promise<PublishedArtifact[]> {
  const parent = path.dirname(destination);
  const staging = path.join(parent, `.staging-${path.basename(destination)}-${randomBytes(4).toString('hex')}`);
  await mkdir(staging, { recursive: true });

  try {
    const staged: PublishedArtifact[] = [];
    for (const file of files) {
      staged.push(await stageFile(file, staging));
    }
    await syncPath(staging);

    // rename() cannot replace a non-empty folder, which exists only when a stalled job ran again.
    await rm(destination, { recursive: true, force: true });
    await rename(staging, destination);
    await syncPath(parent);

    return staged.map((artifact) => ({ ...artifact, path: path.join(destination, artifact.name) }));
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

async function stageFile(file: ArtifactFile, staging: string): Promise<PublishedArtifact> {
  if (!isArtifactName(file.name)) {
    throw new Error(`Invalid artifact name '${file.name}': use letters, digits, '.', '_' and '-' only.`);
  }
  const target = path.join(staging, file.name);
  await moveFile(file.path, target);

  const { size } = await stat(target);
  const sha256 = await hashFile(target);
  await syncPath(target);

  return { name: file.name, path: target, bytes: size, sha256, contentType: file.contentType };
}

async function moveFile(source: string, target: string): Promise<void> {
  try {
    await rename(source, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await copyFile(source, target);
    await rm(source, { force: true });
  }
}

/** Computes the lower-case hex SHA-256 of a file by streaming it. */
export async function hashFile(filePath: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(filePath)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

// Flushes a file or folder entry to disk. Some file systems reject fsync on a folder. The
// rename is still atomic there, but it may not survive a power loss.
async function syncPath(target: string): Promise<void> {
  const handle = await open(target, 'r');
  try {
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') throw error;
  } finally {
    await handle.close();
  }
}
