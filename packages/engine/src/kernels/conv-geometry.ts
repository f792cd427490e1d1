import * as tf from '@tensorflow/tfjs';

/**
 * Memory budget, in float32 elements, of the temporary matrices that one convolution kernel call
 * allocates: 2^20 elements is 4 MiB. Kernels split the output positions into chunks to stay
 * within it, so the temporaries do not grow with the batch size.
 */
export const DEFAULT_MAX_TEMP_ELEMENTS = 1 << 20;

/** Element strides of a 4-D image tensor, by axis name, for either data format. */
export interface ImageStrides {
  batch: number;
  row: number;
  column: number;
  channel: number;
}

/**
 * Shape of a 2-D convolution as the kernels here use it. "Input" is x (or dx) and "output" is
 * y (or dy), whichever direction a kernel computes.
 */
export interface ConvGeometry {
  channelsLast: boolean;
  batchSize: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padTop: number;
  padLeft: number;
  inputStrides: ImageStrides;
  outputStrides: ImageStrides;
}

/**
 * Attributes shared by the Conv2D, Conv2DBackpropFilter and Conv2DBackpropInput kernels of tfjs.
 * tfjs 4.22.0 passes `dilations` only to Conv2D, and its conv2d gradient rejects dilations above 1.
 * The backprop kernels here still honor `dilations` when a caller passes it to runKernel.
 */
export interface ConvAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * Computes tfjs's convolution info for an input of shape `inputShape` (x or dx) and a filter of
 * shape [filterHeight, filterWidth, inChannels, outChannels]. The data format defaults to NHWC
 * and the dilations to 1.
 */
export function computeConvInfo(
  inputShape: readonly number[],
  filterShape: readonly number[],
  attrs: ConvAttrs,
  kernelName: string,
): tf.backend_util.Conv2DInfo {
  if (inputShape.length !== 4 || filterShape.length !== 4) {
    throw new Error(
      `${kernelName}: expected a rank 4 input and filter, got shapes [${inputShape.join(', ')}] and [${filterShape.join(', ')}].`,
    );
  }
  const dataFormat = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC');
  return tf.backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    dataFormat,
  );
}

function imageStrides(height: number, width: number, channels: number, channelsLast: boolean): ImageStrides {
  return channelsLast
    ? { batch: height * width * channels, row: width * channels, column: channels, channel: 1 }
    : { batch: channels * height * width, row: width, column: 1, channel: height * width };
}

/** Builds the geometry from tfjs's convolution info (backend_util.computeConv2DInfo). */
export function toConvGeometry(info: tf.backend_util.Conv2DInfo): ConvGeometry {
  const channelsLast = info.dataFormat === 'channelsLast';
  const outHeight = Math.max(0, info.outHeight);
  const outWidth = Math.max(0, info.outWidth);
  return {
    channelsLast,
    batchSize: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight,
    outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
    inputStrides: imageStrides(info.inHeight, info.inWidth, info.inChannels, channelsLast),
    outputStrides: imageStrides(outHeight, outWidth, info.outChannels, channelsLast),
  };
}

/** Returns the number of output positions, batch × outHeight × outWidth. */
export function outputPositionCount(geometry: ConvGeometry): number {
  return geometry.batchSize * geometry.outHeight * geometry.outWidth;
}

/** Returns the length of one patch, filterHeight × filterWidth × inChannels. */
export function patchLength(geometry: ConvGeometry): number {
  return geometry.filterHeight * geometry.filterWidth * geometry.inChannels;
}

/**
 * Returns how many output positions one chunk may have when each position needs
 * `elementsPerPosition` temporary elements: at least 1 and at most `positionCount`.
 */
export function chunkPositionCount(elementsPerPosition: number, positionCount: number, maxTempElements: number): number {
  const fitting = Math.floor(maxTempElements / Math.max(1, elementsPerPosition));
  return Math.max(1, Math.min(positionCount, fitting));
}

/**
 * Writes the input patches of output positions `start` to `start + count - 1` (im2col).
 *
 * The value of patch feature k = (filterRow × filterWidth + filterColumn) × inChannels + channel
 * for the position at offset p from `start` goes to `patches[p * positionStride + k * featureStride]`.
 * The feature order matches the filter layout [filterHeight, filterWidth, inChannels, outChannels].
 * Taps that fall in the padding are written as 0.
 */
export function writePatches(
  x: Float32Array,
  geometry: ConvGeometry,
  start: number,
  count: number,
  patches: Float32Array,
  positionStride: number,
  featureStride: number,
): void {
  const { inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth } = geometry;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft } = geometry;
  const { batch: batchStride, row: rowStride, column: columnStride, channel: channelStride } = geometry.inputStrides;

  const positionsPerImage = outHeight * outWidth;
  let batch = Math.floor(start / positionsPerImage);
  let outRow = Math.floor((start % positionsPerImage) / outWidth);
  let outColumn = start % outWidth;

  for (let p = 0; p < count; p++) {
    const rowBase = p * positionStride;
    const inRowOrigin = outRow * strideHeight - padTop;
    const inColumnOrigin = outColumn * strideWidth - padLeft;
    const batchOffset = batch * batchStride;

    for (let filterRow = 0; filterRow < filterHeight; filterRow++) {
      const inRow = inRowOrigin + filterRow * dilationHeight;
      const rowInside = inRow >= 0 && inRow < inHeight;
      for (let filterColumn = 0; filterColumn < filterWidth; filterColumn++) {
        const inColumn = inColumnOrigin + filterColumn * dilationWidth;
        let out = rowBase + (filterRow * filterWidth + filterColumn) * inChannels * featureStride;
        if (rowInside && inColumn >= 0 && inColumn < inWidth) {
          let source = batchOffset + inRow * rowStride + inColumn * columnStride;
          for (let channel = 0; channel < inChannels; channel++) {
            patches[out] = x[source]!;
            out += featureStride;
            source += channelStride;
          }
        } else {
          for (let channel = 0; channel < inChannels; channel++) {
            patches[out] = 0;
            out += featureStride;
          }
        }
      }
    }

    outColumn++;
    if (outColumn === outWidth) {
      outColumn = 0;
      outRow++;
      if (outRow === outHeight) {
        outRow = 0;
        batch++;
      }
    }
  }
}

/**
 * Adds patch gradients back into the input gradient dx (col2im), the reverse of writePatches.
 * `patches` is dense with one row of patchLength(geometry) features per output position.
 */
export function addPatchesToImage(
  patches: Float32Array,
  geometry: ConvGeometry,
  start: number,
  count: number,
  dx: Float32Array,
): void {
  const { inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth } = geometry;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft } = geometry;
  const { batch: batchStride, row: rowStride, column: columnStride, channel: channelStride } = geometry.inputStrides;
  const featureCount = patchLength(geometry);

  const positionsPerImage = outHeight * outWidth;
  let batch = Math.floor(start / positionsPerImage);
  let outRow = Math.floor((start % positionsPerImage) / outWidth);
  let outColumn = start % outWidth;

  for (let p = 0; p < count; p++) {
    const rowBase = p * featureCount;
    const inRowOrigin = outRow * strideHeight - padTop;
    const inColumnOrigin = outColumn * strideWidth - padLeft;
    const batchOffset = batch * batchStride;

    for (let filterRow = 0; filterRow < filterHeight; filterRow++) {
      const inRow = inRowOrigin + filterRow * dilationHeight;
      if (inRow < 0 || inRow >= inHeight) {
        continue;
      }
      for (let filterColumn = 0; filterColumn < filterWidth; filterColumn++) {
        const inColumn = inColumnOrigin + filterColumn * dilationWidth;
        if (inColumn < 0 || inColumn >= inWidth) {
          continue;
        }
        let source = rowBase + (filterRow * filterWidth + filterColumn) * inChannels;
        let target = batchOffset + inRow * rowStride + inColumn * columnStride;
        for (let channel = 0; channel < inChannels; channel++) {
          dx[target] = dx[target]! + patches[source]!;
          source++;
          target += channelStride;
        }
      }
    }

    outColumn++;
    if (outColumn === outWidth) {
      outColumn = 0;
      outRow++;
      if (outRow === outHeight) {
        outRow = 0;
        batch++;
      }
    }
  }
}

/**
 * Copies the output-side values (y or dy) of positions `start` to `start + count - 1` into a
 * matrix: channel c of the position at offset p goes to `rows[p * positionStride + c * channelStride]`.
 */
export function gatherOutputRows(
  values: Float32Array,
  geometry: ConvGeometry,
  start: number,
  count: number,
  rows: Float32Array,
  positionStride: number,
  channelStride: number,
): void {
  const { outHeight, outWidth, outChannels } = geometry;
  const { batch: batchStride, row: rowStride, column: columnStride, channel: sourceChannelStride } = geometry.outputStrides;

  const positionsPerImage = outHeight * outWidth;
  for (let p = 0; p < count; p++) {
    const position = start + p;
    const batch = Math.floor(position / positionsPerImage);
    const outRow = Math.floor((position % positionsPerImage) / outWidth);
    const outColumn = position % outWidth;
    let source = batch * batchStride + outRow * rowStride + outColumn * columnStride;
    let target = p * positionStride;
    for (let channel = 0; channel < outChannels; channel++) {
      rows[target] = values[source]!;
      source += sourceChannelStride;
      target += channelStride;
    }
  }
}

/** Writes a dense [count, outChannels] matrix to the output tensor y, the reverse of gatherOutputRows. */
export function scatterOutputRows(
  rows: Float32Array,
  geometry: ConvGeometry,
  start: number,
  count: number,
  y: Float32Array,
): void {
  const { outHeight, outWidth, outChannels } = geometry;
  const { batch: batchStride, row: rowStride, column: columnStride, channel: targetChannelStride } = geometry.outputStrides;

  const positionsPerImage = outHeight * outWidth;
  for (let p = 0; p < count; p++) {
    const position = start + p;
    const batch = Math.floor(position / positionsPerImage);
    const outRow = Math.floor((position % positionsPerImage) / outWidth);
    const outColumn = position % outWidth;
    let target = batch * batchStride + outRow * rowStride + outColumn * columnStride;
    let source = p * outChannels;
    for (let channel = 0; channel < outChannels; channel++) {
      y[target] = rows[source]!;
      source++;
      target += targetChannelStride;
    }
  }
}
