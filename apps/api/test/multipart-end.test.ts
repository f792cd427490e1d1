import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PassThrough, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { boundaryOf, watchMultipartEnd } from '../src/multipart-end.js';

const BOUNDARY = 'xyz-boundary';
const COMPLETE = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="params"\r\n\r\n{}\r\n--${BOUNDARY}--\r\n`);

/** Streams `body` in chunks of `chunkSize` bytes through a watched request and reports whether the closing boundary was seen. */
async function watchBody(body: Buffer, chunkSize: number): Promise<boolean> {
  const raw = Object.assign(new PassThrough(), { headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` } });
  const watch = watchMultipartEnd(raw as unknown as IncomingMessage);
  assert.ok(watch !== null);

  const received: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      received.push(chunk);
      callback();
    },
  });
  const finished = new Promise((resolve) => sink.on('finish', resolve));
  raw.pipe(sink);

  for (let offset = 0; offset < body.length; offset += chunkSize) raw.write(body.subarray(offset, offset + chunkSize));
  raw.end();
  await finished;

  assert.deepEqual(Buffer.concat(received), body, 'the parser side still receives every byte');
  return watch.reachedClosingBoundary();
}

describe('watchMultipartEnd', () => {
  for (const chunkSize of [1, 3, 7, 16, 1024]) {
    it(`finds the closing boundary in ${chunkSize}-byte chunks`, async () => {
      assert.equal(await watchBody(COMPLETE, chunkSize), true);
    });
  }

  it('reports a body cut before the boundary', async () => {
    assert.equal(await watchBody(COMPLETE.subarray(0, COMPLETE.length - 4), 5), false);
  });

  it('finds a body of only the closing boundary', async () => {
    assert.equal(await watchBody(Buffer.from(`--${BOUNDARY}--\r\n`), 2), true);
  });

  it('ignores the boundary without a leading line break', async () => {
    assert.equal(await watchBody(Buffer.from(`x--${BOUNDARY}--\r\n`), 4), false);
  });

  it('reads quoted and plain boundaries', () => {
    assert.equal(boundaryOf('multipart/form-data; boundary=abc'), 'abc');
    assert.equal(boundaryOf('multipart/form-data; boundary="a b;c"'), 'a b;c');
    assert.equal(boundaryOf('multipart/form-data; charset=utf-8; BOUNDARY=abc; x=y'), 'abc');
    assert.equal(boundaryOf('multipart/form-data'), null);
    assert.equal(boundaryOf(undefined), null);
  });
});
