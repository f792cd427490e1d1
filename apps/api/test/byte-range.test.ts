import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseByteRange } from '../src/index.js';

describe('parseByteRange', () => {
  const cases: [string | undefined, number, ReturnType<typeof parseByteRange>][] = [
    [undefined, 10, null],
    ['bytes=0-4', 10, { start: 0, end: 4 }],
    ['bytes=5-', 10, { start: 5, end: 9 }],
    ['bytes=-3', 10, { start: 7, end: 9 }],
    ['bytes=8-100', 10, { start: 8, end: 9 }],
    ['bytes=10-', 10, 'unsatisfiable'],
    ['bytes=-0', 10, 'unsatisfiable'],
    ['bytes=0-', 0, 'unsatisfiable'],
    ['bytes=5-2', 10, null],
    ['bytes=-', 10, null],
    ['items=0-4', 10, null],
    ['bytes=0-1,3-4', 10, null],
  ];

  for (const [header, size, expected] of cases) {
    it(`parses ${header ?? 'no header'} for ${size} bytes`, () => {
      assert.deepEqual(parseByteRange(header, size), expected);
    });
  }
});
