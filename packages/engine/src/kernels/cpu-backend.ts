import type * as tf from '@tensorflow/tfjs';

/**
 * The part of the tfjs `cpu` backend (MathBackendCPU in @tensorflow/tfjs-backend-cpu 4.22.0)
 * that the kernels here use. Its `data` map stores each tensor's values as a typed array.
 */
export interface CpuBackend {
  data: { get(dataId: tf.DataId): { values?: tf.backend_util.BackendValues } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): tf.TensorInfo;
}

/** Casts the kernel's `backend` argument, raising when it is not the tfjs cpu backend. */
export function asCpuBackend(backend: unknown, kernelName: string): CpuBackend {
  const candidate = backend as Partial<CpuBackend> | null;
  if (candidate == null || candidate.data == null || typeof candidate.makeTensorInfo !== 'function') {
    throw new Error(`${kernelName}: backend is not the tfjs cpu backend (no data map or makeTensorInfo).`);
  }
  return candidate as CpuBackend;
}

/** Returns the required input, raising with the kernel and input name when it is missing. */
export function requireInput(inputs: tf.NamedTensorInfoMap, name: string, kernelName: string): tf.TensorInfo {
  const input = inputs[name];
  if (input === undefined) {
    throw new Error(`${kernelName}: missing input '${name}'.`);
  }
  return input;
}

/**
 * Returns the values of a tensor stored on the cpu backend as a Float32Array. Float32 data is
 * returned without copying, int32 and bool data is copied. Raises for complex64 and string tensors.
 */
export function readFloat32Values(backend: CpuBackend, tensor: tf.TensorInfo, kernelName: string): Float32Array {
  if (tensor.dtype === 'complex64' || tensor.dtype === 'string') {
    throw new Error(`${kernelName}: dtype ${tensor.dtype} is not supported, expected float32, int32 or bool.`);
  }
  const values = backend.data.get(tensor.dataId).values;
  if (values instanceof Float32Array) {
    return values;
  }
  if (values instanceof Int32Array || values instanceof Uint8Array) {
    return Float32Array.from(values);
  }
  throw new Error(`${kernelName}: tensor data of dtype ${tensor.dtype} is not a numeric typed array.`);
}

/** Raises unless the tensor has the expected shape, naming the kernel and the input. */
export function assertShape(tensor: tf.TensorInfo, expected: readonly number[], name: string, kernelName: string): void {
  const matches = tensor.shape.length === expected.length && tensor.shape.every((size, axis) => size === expected[axis]);
  if (!matches) {
    throw new Error(`${kernelName}: input '${name}' has shape [${tensor.shape.join(', ')}], expected [${expected.join(', ')}].`);
  }
}
