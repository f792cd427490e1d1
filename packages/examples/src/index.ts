// The bundled example model, test fixtures, MNIST as NPZ, and helpers to reach the
// project's Python scripts for comparisons with real Keras.
export { ensureMnistNpz, loadMnist, writeMnistNpz, type MnistArrays } from './mnist.js';
export { parseIdx, readIdx, type IdxArray } from './idx.js';
export { encodeNpy, type NpyArray } from './npy.js';
export { encodeNpz } from './npz.js';
export {
  exampleModelFactsPath,
  exampleModelPath,
  fixturePath,
  mnistDataDir,
  pythonScriptPath,
  venvPythonPath,
} from './paths.js';
