// Kernels and gradients for the 'tensorflow' backend (tfjs-node 4.22.0) that add what
// the package lacks or replace what it runs slowly. Each maps to one TensorFlow op, so
// the native backend computes the same values as TensorFlow itself.
import * as tf from '@tensorflow/tfjs';

/** Name of the kernel that runs TensorFlow's ReluGrad op. */
const RELU_GRAD = 'ReluGrad';

/** Registers every kernel and gradient below. Calling it again changes nothing. */
export function registerNativeKernels(): void {
  registerNativeSearchSorted();
  registerNativeGather();
  registerNativeReluGrad();
  registerNativeFusedConv2DBias();
}

/** The members of tfjs-node's NodeJSKernelBackend that the kernels below use. */
interface NativeKernelBackend {
  binding: { TF_ATTR_TYPE: number; TF_ATTR_INT: number; TF_ATTR_STRING: number; TF_FLOAT: number; TF_INT32: number };
  getDTypeInteger(dtype: tf.DataType): number;
  applyActivation(input: tf.Tensor, activation: string, preluActivationWeights?: tf.Tensor, leakyreluAlpha?: number): tf.Tensor;
  executeSingleOutput(opName: string, attributes: { name: string; type: number; value: number | string }[], inputs: tf.TensorInfo[]): tf.Tensor;
}

/**
 * Registers SearchSorted, which assigning clusters uses, for the 'tensorflow' backend.
 * tfjs-node 4.22.0 has no kernel for it, so it maps to TensorFlow's LowerBound
 * (side 'left') and UpperBound (side 'right') ops, which take the same 2-D inputs.
 */
function registerNativeSearchSorted(): void {
  if (tf.getKernel('SearchSorted', 'tensorflow') !== undefined) {
    return;
  }
  tf.registerKernel({
    kernelName: 'SearchSorted',
    backendName: 'tensorflow',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { sortedSequence, values } = inputs as { sortedSequence: tf.TensorInfo; values: tf.TensorInfo };
      const side = (attrs as { side: 'left' | 'right' }).side;
      const native = backend as unknown as NativeKernelBackend;
      const { TF_ATTR_TYPE, TF_FLOAT, TF_INT32 } = native.binding;
      if (sortedSequence.dtype !== 'float32' && sortedSequence.dtype !== 'int32') {
        throw new Error(`SearchSorted on the tensorflow backend supports float32 and int32, not ${sortedSequence.dtype}`);
      }
      const attributes = [
        { name: 'T', type: TF_ATTR_TYPE, value: sortedSequence.dtype === 'float32' ? TF_FLOAT : TF_INT32 },
        { name: 'out_type', type: TF_ATTR_TYPE, value: TF_INT32 },
      ];
      return native.executeSingleOutput(side === 'left' ? 'LowerBound' : 'UpperBound', attributes, [sortedSequence, values]);
    },
  });
}

/**
 * Replaces tfjs-node's GatherV2 kernel for the 'tensorflow' backend. The 4.22.0 kernel
 * reads every index back into JavaScript and checks it there before running TensorFlow's
 * GatherV2. That read waits for all pending work, and it took about 15 ms per 400,000
 * indices on a shared 2-core AMD EPYC, a large share of a clustered training step.
 * TensorFlow's own CPU kernel checks the bounds too and raises InvalidArgument for an
 * index out of range, so no check is lost.
 */
function registerNativeGather(): void {
  const existing = tf.getKernel('GatherV2', 'tensorflow');
  if (existing !== undefined && (existing.kernelFunc as { centroidNative?: boolean }).centroidNative === true) {
    return;
  }
  const kernelFunc: tf.KernelFunc & { centroidNative?: boolean } = ({ inputs, attrs, backend }) => {
    const { x, indices } = inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = attrs as { axis: number; batchDims: number };
    const native = backend as unknown as NativeKernelBackend;
    const { TF_ATTR_TYPE, TF_ATTR_INT } = native.binding;
    const attributes = [
      { name: 'batch_dims', type: TF_ATTR_INT, value: batchDims },
      { name: 'Tparams', type: TF_ATTR_TYPE, value: native.getDTypeInteger(x.dtype) },
      { name: 'Tindices', type: TF_ATTR_TYPE, value: native.getDTypeInteger(indices.dtype) },
      { name: 'Taxis', type: TF_ATTR_TYPE, value: native.binding.TF_INT32 },
    ];
    const axisTensor = tf.scalar(axis, 'int32');
    try {
      return native.executeSingleOutput('GatherV2', attributes, [x, indices, axisTensor]);
    } finally {
      axisTensor.dispose();
    }
  };
  kernelFunc.centroidNative = true;
  if (existing !== undefined) tf.unregisterKernel('GatherV2', 'tensorflow');
  tf.registerKernel({ kernelName: 'GatherV2', backendName: 'tensorflow', kernelFunc });
}


/**
 * Registers TensorFlow's ReluGrad as a 'tensorflow' kernel and makes the gradient of
 * Relu use it on that backend. tfjs computes the gradient as dy · step(x), and
 * tfjs-node 4.22.0 runs step(x) as six full-size ops (IsNan, Greater, Fill twice and two
 * Selects). ReluGrad is the single op that TensorFlow and Keras use: dy where x > 0,
 * else 0. Unlike step, it returns 0 rather than NaN where x is NaN. Other backends keep
 * the tfjs gradient.
 */
function registerNativeReluGrad(): void {
  if (tf.getKernel(RELU_GRAD, 'tensorflow') === undefined) {
    tf.registerKernel({
      kernelName: RELU_GRAD,
      backendName: 'tensorflow',
      kernelFunc: ({ inputs, backend }) => {
        const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
        const native = backend as unknown as NativeKernelBackend;
        const attributes = [{ name: 'T', type: native.binding.TF_ATTR_TYPE, value: native.getDTypeInteger(x.dtype) }];
        return native.executeSingleOutput('ReluGrad', attributes, [dy, x]);
      },
    });
  }

  tf.registerGradient({
    kernelName: 'Relu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved as [tf.Tensor];
      const gradient = dy as tf.Tensor;
      if (tf.getBackend() === 'tensorflow' && x.dtype === 'float32') {
        return { x: () => tf.engine().runKernel(RELU_GRAD, { dy: gradient, x }) as tf.Tensor };
      }
      return { x: () => tf.mul(gradient, tf.cast(tf.step(x), 'float32')) };
    },
  });
}

/**
 * Wraps tfjs-node's FusedConv2D kernel for the 'tensorflow' backend so that a 1-D bias
 * is added with TensorFlow's BiasAdd. The 4.22.0 kernel adds it with a broadcasting Add,
 * which took about 10 ms against 3 ms for BiasAdd on a 250 × 26 × 26 × 32 output on a
 * shared 2-core AMD EPYC. Both add the same float32 values, so the results are
 * identical. Any other bias shape goes to the original kernel.
 */
function registerNativeFusedConv2DBias(): void {
  const existing = tf.getKernel('FusedConv2D', 'tensorflow');
  const convolution = tf.getKernel('Conv2D', 'tensorflow');
  if (existing === undefined || convolution === undefined) return;
  if ((existing.kernelFunc as { centroidNative?: boolean }).centroidNative === true) return;

  const original = existing.kernelFunc;
  const kernelFunc: tf.KernelFunc & { centroidNative?: boolean } = (args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs as {
      x: tf.TensorInfo;
      filter: tf.TensorInfo;
      bias?: tf.TensorInfo;
      preluActivationWeights?: tf.TensorInfo;
    };
    const attrs = args.attrs as { dataFormat: string; activation: string; leakyreluAlpha?: number };
    const channels = filter.shape[3];
    if (bias == null || bias.shape.length !== 1 || bias.shape[0] !== channels || attrs.dataFormat !== 'NHWC' || x.dtype !== 'float32') {
      return original(args);
    }

    const native = args.backend as unknown as NativeKernelBackend;
    const convolved = convolution.kernelFunc({ inputs: { x, filter }, attrs: args.attrs, backend: args.backend }) as tf.Tensor;
    const attributes = [
      { name: 'T', type: native.binding.TF_ATTR_TYPE, value: native.getDTypeInteger(x.dtype) },
      { name: 'data_format', type: native.binding.TF_ATTR_STRING, value: 'NHWC' },
    ];
    const biased = native.executeSingleOutput('BiasAdd', attributes, [convolved, bias]);
    convolved.dispose();
    const activated = native.applyActivation(biased, attrs.activation, preluActivationWeights as tf.Tensor | undefined, attrs.leakyreluAlpha);
    if (activated !== biased) biased.dispose();
    return activated;
  };
  kernelFunc.centroidNative = true;
  tf.unregisterKernel('FusedConv2D', 'tensorflow');
  tf.registerKernel({ kernelName: 'FusedConv2D', backendName: 'tensorflow', kernelFunc });
}

