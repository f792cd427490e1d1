// Entry point of the child process that runs HDF5 work for `readKerasH5`,
// `inspectKerasH5` and `writeKerasH5`.
import { serveChildTasks } from '../isolation/run-in-child.js';
import { inspectKerasH5InProcess } from './inspect.js';
import { readKerasH5InProcess } from './read.js';
import { writeKerasH5InProcess } from './write.js';

serveChildTasks({
  readKerasH5: readKerasH5InProcess,
  inspectKerasH5: inspectKerasH5InProcess,
  writeKerasH5: writeKerasH5InProcess,
});
