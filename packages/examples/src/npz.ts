// Encoder for NumPy .npz files: a zip with one "<name>.npy" member per array.
import { zipSync } from 'fflate';
import { encodeNpy, type NpyArray } from './npy.js';

/**
 * Encodes named arrays as .npz bytes.
 * Members are stored uncompressed by default, like numpy.savez, which keeps writing
 * and reading fast. Pass a deflate level of 1 to 9 for numpy.savez_compressed-like output.
 */
export function encodeNpz(arrays: Record<string, NpyArray>, level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 0): Uint8Array {
  const members: Record<string, Uint8Array> = {};
  for (const [name, array] of Object.entries(arrays)) {
    members[`${name}.npy`] = encodeNpy(array);
  }
  return zipSync(members, { level });
}
