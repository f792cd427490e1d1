// Writes a zip archive as a stream, one stored member at a time, so that an upload of
// several files can be packed into one archive without holding any file in memory.
import { Zip, ZipPassThrough } from 'fflate';

/**
 * A zip of stored members written to `sink` as the members stream in. Each member's
 * sizes and CRC-32 follow its data in a data descriptor and are repeated in the central
 * directory. fflate writes no Zip64 records, so the archive must stay below 4 GiB.
 */
export class ZipStreamWriter {
  private readonly pending: Uint8Array[] = [];
  private failure: Error | null = null;
  private readonly zip: Zip;

  constructor(private readonly sink: (chunk: Uint8Array) => Promise<void>) {
    this.zip = new Zip((error, data) => {
      if (error !== null) {
        this.failure = error;
        return;
      }
      this.pending.push(data);
    });
  }

  /** Streams `source` into the archive as member `name` and returns its size in bytes. */
  async addMember(name: string, source: AsyncIterable<Uint8Array>): Promise<number> {
    const member = new ZipPassThrough(name);
    this.zip.add(member);
    let bytes = 0;
    for await (const chunk of source) {
      bytes += chunk.byteLength;
      member.push(chunk);
      await this.flush();
    }
    member.push(new Uint8Array(0), true);
    await this.flush();
    return bytes;
  }

  /** Writes the central directory. */
  async finish(): Promise<void> {
    this.zip.end();
    await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.failure !== null) {
      throw this.failure;
    }
    while (this.pending.length > 0) {
      await this.sink(this.pending.shift() as Uint8Array);
    }
  }
}
