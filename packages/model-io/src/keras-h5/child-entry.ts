// Entry point of the child process that runs HDF5 work for `readKerasH5`,
// `inspectKerasH5`, `writeKerasH5`, `createKerasH5` and the `.keras` archive reader, inspector and writers.
import { serveChildTasks } from '../isolation/run-in-child.js';
import { createKerasArchiveInProcess } from '../keras-archive/create-archive.js';
import { inspectKerasArchiveInProcess } from '../keras-archive/inspect.js';
import { readKerasArchiveInProcess } from '../keras-archive/read.js';
import { writeKerasArchiveInProcess } from '../keras-archive/write.js';
import { createKerasH5InProcess } from './create.js';
import { inspectKerasH5InProcess } from './inspect.js';
import { readKerasH5InProcess } from './read.js';
import { writeKerasH5InProcess } from './write.js';

serveChildTasks({
  readKerasH5: readKerasH5InProcess,
  inspectKerasH5: inspectKerasH5InProcess,
  writeKerasH5: writeKerasH5InProcess,
  readKerasArchive: readKerasArchiveInProcess,
  inspectKerasArchive: inspectKerasArchiveInProcess,
  writeKerasArchive: writeKerasArchiveInProcess,
  createKerasH5: createKerasH5InProcess,
  createKerasArchive: createKerasArchiveInProcess,
});
