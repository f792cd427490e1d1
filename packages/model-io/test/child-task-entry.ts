// A child entry for the run-in-child tests: one task per way a child can end.
import { CentroidError } from '@centroid/contracts';

import { serveChildTasks } from '../src/isolation/run-in-child.js';

serveChildTasks({
  double: (values: Float32Array) => values.map((value) => value * 2),
  rejectUpload: (filename: string) => {
    throw new CentroidError('MODEL_INVALID', `${filename} is damaged`, { file: filename });
  },
  throwTypeError: () => {
    throw new TypeError('not a function');
  },
  exitEarly: () => process.exit(3),
  loopForever: () => {
    for (;;) {
      // Stands in for a WebAssembly loop that never returns.
    }
  },
});
