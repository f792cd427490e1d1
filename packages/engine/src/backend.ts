// Chooses the TensorFlow.js backend once per process. It tries native TensorFlow with
// CUDA, then native TensorFlow on the CPU, then pure JavaScript, and the first that
// loads wins.
import * as tf from '@tensorflow/tfjs';
import { CentroidError } from '@centroid/contracts';
import { registerFastCpuKernels } from './kernels/index.js';
import { registerNativeKernels } from './native-kernels.js';

/**
 * Accepted values of `CENTROID_BACKEND`, in the order automatic selection tries them:
 * `tensorflow-gpu` (`@tensorflow/tfjs-node-gpu`), `tensorflow` (`@tensorflow/tfjs-node`)
 * and `cpu` (the pure-JavaScript backend of `@tensorflow/tfjs`).
 */
export const BACKEND_NAMES = ['tensorflow-gpu', 'tensorflow', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

const NATIVE_PACKAGES: Record<Exclude<BackendName, 'cpu'>, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
};

export interface SelectedBackend {
  name: BackendName;
  /** Version of `@tensorflow/tfjs` for `cpu`, otherwise of the tfjs-node binding package. */
  version: string;
  /** Backends tried before this one and why each failed, for the caller to log. */
  skipped: { name: BackendName; reason: string }[];
}

/**
 * Loads and activates a backend. With `CENTROID_BACKEND` set in `env`, loads exactly that
 * one and raises BACKEND_UNAVAILABLE, naming the package, when it cannot load or the
 * value is not one of {@link BACKEND_NAMES}. Without it, tries them in order.
 */
export async function selectBackend(env: NodeJS.ProcessEnv = process.env): Promise<SelectedBackend> {
  const forced = env.CENTROID_BACKEND?.trim() ?? '';
  if (forced !== '') {
    if (!isBackendName(forced)) {
      throw new CentroidError(
        'BACKEND_UNAVAILABLE',
        `CENTROID_BACKEND is '${forced}'; expected one of ${BACKEND_NAMES.join(', ')}, or unset to choose automatically`,
        { field: 'CENTROID_BACKEND' },
      );
    }
    try {
      return { name: forced, version: await loadBackend(forced), skipped: [] };
    } catch (error) {
      throw new CentroidError(
        'BACKEND_UNAVAILABLE',
        `CENTROID_BACKEND is '${forced}', but ${describeBackend(forced)} failed to load: ${failureReason(error, forced)}`,
        { field: 'CENTROID_BACKEND' },
        { cause: error },
      );
    }
  }

  const skipped: SelectedBackend['skipped'] = [];
  for (const name of BACKEND_NAMES) {
    try {
      return { name, version: await loadBackend(name), skipped };
    } catch (error) {
      skipped.push({ name, reason: failureReason(error, name) });
    }
  }
  throw new CentroidError(
    'BACKEND_UNAVAILABLE',
    `no TensorFlow.js backend could be loaded: ${skipped.map((entry) => `${entry.name}: ${entry.reason}`).join('; ')}`,
  );
}

/** Activates backend `name` and returns its version. */
async function loadBackend(name: BackendName): Promise<string> {
  if (name === 'cpu') {
    if (!(await tf.setBackend('cpu'))) {
      throw new Error('tf.setBackend("cpu") returned false');
    }
    await tf.ready();
    // The stock convolution gradients of the pure-JavaScript backend are naive loops, about 30 times slower.
    registerFastCpuKernels();
    // Without PROD, tfjs prints a banner suggesting tfjs-node into the CLI's output; the backend
    // choice is logged by the caller instead.
    tf.env().set('PROD', true);
    return tf.version.tfjs;
  }

  const packageName = NATIVE_PACKAGES[name];
  // libtensorflow logs its CUDA probing to stderr at load, as errors even on machines without
  // a GPU, which buries the CLI's own output. This hides most of it; the cuDNN and cuBLAS
  // factory lines are written before the level is read, so they still appear. Failed
  // operations still raise in JavaScript, and an explicit TF_CPP_MIN_LOG_LEVEL wins.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '3';
  // The package registers the 'tensorflow' backend with @tensorflow/tfjs when imported.
  const binding = (await import(packageName)) as { version?: Record<string, string> };
  if (tf.findBackendFactory('tensorflow') === null) {
    throw new Error(`${packageName} registered its backend with another copy of @tensorflow/tfjs than the engine uses`);
  }
  registerNativeKernels();
  if (!(await tf.setBackend('tensorflow'))) {
    throw new Error('tf.setBackend("tensorflow") returned false');
  }
  await tf.ready();
  return binding.version?.['tfjs-node'] ?? 'unknown';
}

function isBackendName(value: string): value is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(value);
}

function describeBackend(name: BackendName): string {
  return name === 'cpu' ? 'the pure-JavaScript backend' : NATIVE_PACKAGES[name];
}

function failureReason(error: unknown, name: BackendName): string {
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'cpu') {
    return message;
  }

  const packageName = NATIVE_PACKAGES[name];
  // setup-native.sh builds only @tensorflow/tfjs-node.
  const setupHint = name === 'tensorflow' ? '; run pnpm setup:native' : '';
  const code = (error as { code?: unknown }).code;
  // A missing dependency of an installed package raises the same code, with that
  // dependency's name in the message.
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes(`'${packageName}'`)) {
    return `${packageName} is not installed`;
  }
  // tfjs-node 4.22.0 raises this when its addon is not built, as after a pnpm 10
  // install, which skips the package's install script.
  if (message.includes('tfjs_binding.node) can not be found')) {
    return `${packageName} is installed, but its native binding is not built${setupHint}`;
  }
  // The addon was built but libtensorflow, which it links, is gone or does not load.
  if (code === 'ERR_DLOPEN_FAILED') {
    return `${packageName} failed to load libtensorflow (${message})${setupHint}`;
  }
  return message;
}
