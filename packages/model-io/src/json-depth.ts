// Measures how deeply JSON text nests before it is parsed. JSON.parse in Node 20 parsed
// 200,000 levels in a test, but the recursive code that walks, copies and serialises the
// result overflows the stack at such depths, which only a crafted file contains.

/**
 * Deepest nesting of JSON arrays and objects accepted in a model config. Keras configs nest
 * about 10 levels per model, an estimate from the fixtures, so this leaves room for deeply
 * nested models while staying far below the depth that overflows the stack.
 */
export const MAX_JSON_DEPTH = 512;

/**
 * Returns the deepest nesting of JSON arrays and objects in `text`, counting brackets
 * outside strings. It stops counting once the depth passes `limit`, so that the result is
 * then only known to be above it.
 */
export function jsonNestingDepth(text: string, limit: number = MAX_JSON_DEPTH): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const character = text.charCodeAt(i);
    if (inString) {
      if (character === 0x5c) i++;
      else if (character === 0x22) inString = false;
    } else if (character === 0x22) {
      inString = true;
    } else if (character === 0x5b || character === 0x7b) {
      depth++;
      deepest = Math.max(deepest, depth);
      if (deepest > limit) return deepest;
    } else if (character === 0x5d || character === 0x7d) {
      depth--;
    }
  }
  return deepest;
}
