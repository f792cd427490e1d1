// Writes a zip archive from members held in memory, each stored or deflated.
import { zipSync } from 'fflate';

import { writeAtomically } from '../keras-h5/write.js';

/** A member to write: its name, bytes, and whether to deflate it. */
export interface ZipMember {
  name: string;
  bytes: Uint8Array;
  /** True to deflate (method 8), false to store (method 0). */
  deflate: boolean;
}

/**
 * Modification time of every member: 1980-01-01 00:00 local time, the earliest a zip can
 * store. A fixed time makes the same members give the same bytes and gzip size.
 */
const MEMBER_MTIME = new Date(1980, 0, 1, 0, 0, 0);

/**
 * Writes the members to `outPath` in the given order, through a temporary file so that
 * `outPath` never contains a partial archive. fflate writes no Zip64 records, so the
 * archive must stay below 4 GiB.
 */
export async function writeZip(outPath: string, members: ZipMember[]): Promise<void> {
  // fflate takes an object and writes its keys in property order. A name that is an array
  // index, such as "0", would move ahead of the others, so such names are refused here.
  const files: Record<string, [Uint8Array, { level: 0 | 6; mtime: Date }]> = {};
  for (const member of members) {
    if (/^(0|[1-9]\d*)$/.test(member.name)) {
      throw new Error(`zip member name "${member.name}" is an array index, which would reorder the archive`);
    }
    files[member.name] = [member.bytes, { level: member.deflate ? 6 : 0, mtime: MEMBER_MTIME }];
  }
  await writeAtomically(outPath, zipSync(files));
}
