// The output-channel axis that per-channel clustering (`cluster_per_channel`) splits a
// weight along. It needs no TF.js, so that the API's check at submit and the engine
// agree on which weights are clustered per channel and how many weights each channel has.

// Keras (and TF.js) store convolution kernels as spatial × in × out, but transposed
// convolution kernels as spatial × out × in, whatever `data_format` is.
const OUTPUT_CHANNEL_AXIS_FROM_END: Record<string, number> = {
  Conv1D: 1,
  Conv2D: 1,
  Conv3D: 1,
  Conv1DTranspose: 2,
  Conv2DTranspose: 2,
  Conv3DTranspose: 2,
};

/** The output-channel axis of a weight, or null with the reason it is clustered per tensor. */
export type ChannelAxisDecision = { axis: number; reason: null } | { axis: null; reason: string };

/**
 * Finds the output-channel axis of weight `weightName` (such as `kernel`) of a layer of
 * class `className`: the last axis of a Conv1D/2D/3D kernel and the second-to-last of a
 * transposed convolution kernel. For a wrapped layer, `className` is the wrapped layer's
 * class. Every other weight gets null and the reason.
 */
export function outputChannelAxisOf(className: string, weightName: string, shape: readonly number[]): ChannelAxisDecision {
  const fromEnd = OUTPUT_CHANNEL_AXIS_FROM_END[className];
  if (fromEnd === undefined) {
    return { axis: null, reason: `per-channel clustering covers convolution kernels only, so this ${className} weight is clustered per tensor` };
  }
  if (weightName !== 'kernel' || shape.length < fromEnd + 1) {
    return { axis: null, reason: `per-channel clustering covers the kernel only, so ${weightName} of ${className} is clustered per tensor` };
  }
  return { axis: shape.length - fromEnd, reason: null };
}
