// Bob Jenkins' lookup3 hash (`hashlittle`), which HDF5 uses as the checksum of the
// metadata blocks of files written with the 1.8 format or later: version 2 superblocks,
// version 2 object header chunks, B-tree and heap blocks. HDF5 hashes the bytes
// as stored, with an initial value of 0.

function rotate(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

/** Reads `count` bytes, at most four, at `offset` as a little-endian word whose missing high bytes are zero. */
function readWord(bytes: Uint8Array, offset: number, count: number): number {
  let word = 0;
  for (let index = count - 1; index >= 0; index--) {
    word = (word << 8) | (bytes[offset + index] as number);
  }
  return word >>> 0;
}

/**
 * Mixes the state words a, b and c after each full 12-byte block. The state is a
 * Uint32Array, so every addition and subtraction wraps modulo 2^32 as uint32_t does in
 * the C original (lookup3.c).
 */
function mix(state: Uint32Array): void {
  const steps: [number, number, number, number][] = [
    [0, 2, 1, 4],
    [1, 0, 2, 6],
    [2, 1, 0, 8],
    [0, 2, 1, 16],
    [1, 0, 2, 19],
    [2, 1, 0, 4],
  ];
  for (const [target, source, next, bits] of steps) {
    state[target] = (state[target] as number) - (state[source] as number);
    state[target] = (state[target] as number) ^ rotate(state[source] as number, bits);
    state[source] = (state[source] as number) + (state[next] as number);
  }
}

/** Applies the final avalanche to the state words a, b and c, once, after the last block. */
function finalMix(state: Uint32Array): void {
  const steps: [number, number, number][] = [
    [2, 1, 14],
    [0, 2, 11],
    [1, 0, 25],
    [2, 1, 16],
    [0, 2, 4],
    [1, 0, 14],
    [2, 1, 24],
  ];
  for (const [target, source, bits] of steps) {
    state[target] = (state[target] as number) ^ (state[source] as number);
    state[target] = (state[target] as number) - rotate(state[source] as number, bits);
  }
}

/** Returns the lookup3 `hashlittle` value of `bytes`, an unsigned 32-bit integer. */
export function lookup3Checksum(bytes: Uint8Array, initialValue = 0): number {
  const seed = (0xdeadbeef + bytes.length + initialValue) >>> 0;
  const state = Uint32Array.of(seed, seed, seed);

  let offset = 0;
  let remaining = bytes.length;
  while (remaining > 12) {
    for (let word = 0; word < 3; word++) {
      state[word] = (state[word] as number) + readWord(bytes, offset + 4 * word, 4);
    }
    mix(state);
    offset += 12;
    remaining -= 12;
  }

  // The last block has 1 to 12 bytes, and an empty input skips the final mix.
  if (remaining === 0) {
    return state[2] as number;
  }
  for (let word = 0; word < 3 && 4 * word < remaining; word++) {
    state[word] = (state[word] as number) + readWord(bytes, offset + 4 * word, Math.min(remaining - 4 * word, 4));
  }
  finalMix(state);
  return state[2] as number;
}
