// A child entry for the layer graph tests: it builds a fixture's model with an edited
// config, so that a config on which TF.js loops forever stops at the parent's deadline
// instead of hanging the test run.
import { serveChildTasks } from '../src/isolation/run-in-child.js';
import { readKerasH5InProcess } from '../src/keras-h5/read.js';
import { toLayersModel } from '../src/index.js';

import type { KerasModelConfig } from '../src/index.js';

serveChildTasks({
  buildWithConfig: async (path: string, filename: string, modelConfig: KerasModelConfig) => {
    const file = await readKerasH5InProcess(path, filename);
    const { model } = await toLayersModel({ ...file, modelConfig });
    const layers = model.layers.length;
    model.dispose();
    return layers;
  },
});
