// A small seeded pseudo-random generator, so that centroid initialisation and batch
// shuffling give the same result for the same seed on every backend and machine.
// The generator is xoshiro128** (Blackman and Vigna). Its state comes from a Weyl
// sequence passed through the MurmurHash3 32-bit finaliser.

/** A deterministic stream of pseudo-random numbers. */
export interface RandomStream {
  /** Returns the next 32-bit unsigned integer. */
  nextUint32(): number;
  /** Returns a float in [0, 1) with 53 random bits. */
  nextFloat(): number;
  /** Returns an integer in [0, bound). `bound` must be a positive integer up to 2^53. */
  nextInt(bound: number): number;
}

/**
 * Creates a stream seeded with `seed`. Equal seeds give equal streams. Only the low 32
 * bits of the seed are used.
 */
export function createRandom(seed: number): RandomStream {
  if (!Number.isInteger(seed)) {
    throw new RangeError(`seed must be an integer, got ${seed}`);
  }

  // The finaliser spreads a small seed over the 128-bit state, which must not be all zero.
  let mix = seed >>> 0;
  const nextSeedWord = (): number => {
    mix = (mix + 0x9e3779b9) >>> 0;
    let z = mix;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let s0 = nextSeedWord();
  let s1 = nextSeedWord();
  let s2 = nextSeedWord();
  let s3 = nextSeedWord();
  if ((s0 | s1 | s2 | s3) === 0) {
    s0 = 1;
  }

  const rotateLeft = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

  const nextUint32 = (): number => {
    const result = Math.imul(rotateLeft(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotateLeft(s3, 11);
    return result;
  };

  const nextFloat = (): number => {
    const high = nextUint32() >>> 5; // 27 bits
    const low = nextUint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992; // (high * 2^26 + low) / 2^53
  };

  const nextInt = (bound: number): number => {
    if (!Number.isInteger(bound) || bound < 1 || bound > 2 ** 53) {
      throw new RangeError(`bound must be a positive integer up to 2^53, got ${bound}`);
    }
    return Math.floor(nextFloat() * bound);
  };

  return { nextUint32, nextFloat, nextInt };
}

/** Shuffles `indices` in place with the Fisher–Yates algorithm and returns it. */
export function shuffleInPlace<T extends { length: number; [index: number]: number }>(indices: T, random: RandomStream): T {
  for (let i = indices.length - 1; i > 0; i--) {
    const j = random.nextInt(i + 1);
    const swap = indices[i] as number;
    indices[i] = indices[j] as number;
    indices[j] = swap;
  }
  return indices;
}
