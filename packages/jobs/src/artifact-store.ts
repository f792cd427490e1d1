// Files of jobs on local disk, under one root folder:
//   uploads/<jobId>/    the model and dataset as uploaded, kept until the job ends
//   work/<jobId>-<rnd>/ the pipeline's output folder while a job runs
//   artifacts/<jobId>/  published results, which appear all at once
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { publishFolder, isArtifactName, type ArtifactFile, type PublishedArtifact } from './artifact-publisher.js';
import { isJobId } from './job-id.js';
import { writeUpload } from './upload-writer.js';

export interface ArtifactStoreOptions {
  /** Root folder of every stored file. @defaultValue `.data` under the current working directory */
  root?: string;
}

/** An upload as stored on disk. */
export interface StoredUpload {
  path: string;
  /** Name the client gave the file. */
  filename: string;
  bytes: number;
  /** Lower-case hex SHA-256 of the content. */
  sha256: string;
}

export interface SaveUploadOptions {
  jobId: string;
  /** Form field of the upload, which also names the stored file. */
  field: 'model' | 'dataset';
  /** Name the client gave the file. */
  filename: string;
  source: AsyncIterable<Uint8Array>;
  maxBytes: number;
}

export interface StoredArtifactFile {
  path: string;
  bytes: number;
}

export class ArtifactStore {
  readonly root: string;

  constructor(options: ArtifactStoreOptions = {}) {
    this.root = path.resolve(options.root ?? '.data');
  }

  /**
   * Streams an upload to `uploads/<jobId>/<field><extension>`. The extension of the client's
   * file name is kept because model loaders recognise the format by it (`.h5`, `.keras`, `.json`).
   */
  async saveUpload(options: SaveUploadOptions): Promise<StoredUpload> {
    const folder = this.uploadsDir(options.jobId);
    await mkdir(folder, { recursive: true });

    const filename = cleanFilename(options.filename);
    const destination = path.join(folder, `${options.field}${safeExtension(filename)}`);
    const written = await writeUpload(options.source, destination, {
      maxBytes: options.maxBytes,
      field: options.field,
      filename,
    });

    return { path: destination, filename, ...written };
  }

  async removeUploads(jobId: string): Promise<void> {
    await rm(this.uploadsDir(jobId), { recursive: true, force: true });
  }

  /** Creates a new empty folder for the pipeline's output. */
  async createWorkDir(jobId: string): Promise<string> {
    assertJobId(jobId);
    const folder = path.join(this.root, 'work', `${jobId}-${randomBytes(4).toString('hex')}`);
    await mkdir(folder, { recursive: true });
    return folder;
  }

  /** Removes every work folder of a job, such as those left by a worker that was killed while running it. */
  async removeWorkDirsOf(jobId: string): Promise<void> {
    assertJobId(jobId);
    const workRoot = path.join(this.root, 'work');
    const entries = await readdir(workRoot).catch(() => [] as string[]);
    const prefix = `${jobId}-`;
    await Promise.all(entries.filter((entry) => entry.startsWith(prefix)).map((entry) => rm(path.join(workRoot, entry), { recursive: true, force: true })));
  }

  async removeWorkDir(folder: string): Promise<void> {
    const workRoot = path.join(this.root, 'work') + path.sep;
    if (!path.resolve(folder).startsWith(workRoot)) throw new Error(`Cannot remove ${folder}: it is outside ${workRoot}.`);
    await rm(folder, { recursive: true, force: true });
  }

  /** Publishes the files as the job's artifacts, replacing any earlier ones in one rename. */
  async publishArtifacts(jobId: string, files: ArtifactFile[]): Promise<PublishedArtifact[]> {
    const folder = this.artifactsDir(jobId);
    await mkdir(path.dirname(folder), { recursive: true });
    return publishFolder(files, folder);
  }

  /** Locates a published artifact, or returns null when it does not exist. */
  async findArtifact(jobId: string, name: string): Promise<StoredArtifactFile | null> {
    if (!isArtifactName(name)) return null;

    const filePath = path.join(this.artifactsDir(jobId), name);
    try {
      const info = await stat(filePath);
      return info.isFile() ? { path: filePath, bytes: info.size } : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async removeArtifacts(jobId: string): Promise<void> {
    await rm(this.artifactsDir(jobId), { recursive: true, force: true });
  }

  private uploadsDir(jobId: string): string {
    assertJobId(jobId);
    return path.join(this.root, 'uploads', jobId);
  }

  private artifactsDir(jobId: string): string {
    assertJobId(jobId);
    return path.join(this.root, 'artifacts', jobId);
  }
}

// Job ids become folder names, so anything but a well-formed id could escape the root.
function assertJobId(jobId: string): void {
  if (!isJobId(jobId)) throw new Error(`Invalid job id '${jobId}'.`);
}

/** Keeps the last path component of a client's file name, without control characters, at most 255 characters. */
function cleanFilename(filename: string): string {
  const base = filename.split(/[/\\]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const printable = base.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 255);
  return printable === '' ? 'upload' : printable;
}

function safeExtension(filename: string): string {
  const extension = path.extname(filename).toLowerCase();
  return /^\.[a-z0-9]{1,10}$/.test(extension) ? extension : '';
}
