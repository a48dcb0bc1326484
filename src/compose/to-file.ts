import fs from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedTable } from './table.ts';
import { SECTOR } from './layout.ts';
import { dataRanges } from './data-ranges.ts';

export interface ToFileResult {
  out: string;
  bytes: number;
  /** Bytes of the volume actually written (all-zero chunks stay holes). */
  dataBytes: number;
  ms: number;
}

const CHUNK = 1024 * 1024;

/**
 * The composite as one sparse file: head, the volume's whole sectors, tail. OUT is created new
 * (never overwritten: it might be someone's disk) under a temporary name and renamed at the end,
 * so a killed run leaves no half file under OUT. Holes of a sparse volume are not read (data-ranges.ts),
 * and chunks of zeros are not written: the output is as sparse as the volume.
 */
export async function writeComposite(volume: string, out: string, t: ResolvedTable, signal?: AbortSignal): Promise<ToFileResult> {
  const t0 = Date.now();
  const l = t.layout;
  const [vs, os] = await Promise.all([fs.stat(volume), fs.stat(out).catch(() => undefined)]);
  if (os) throw new Error(`${out} exists: --to-file writes a new file and never overwrites one (remove it first)`);
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.nbdforge-${process.pid}`);
  const src = await fs.open(volume, 'r');
  let dst: fs.FileHandle | undefined;
  let dataBytes = 0;
  try {
    dst = await fs.open(tmp, 'wx', 0o600);
    const ds = await dst.stat();
    if (ds.dev === vs.dev && ds.ino === vs.ino) throw new Error(`${out} is the volume itself`);
    await dst.truncate(l.totalSectors * SECTOR);
    await dst.write(t.bytes.head, 0, t.bytes.head.length, 0);
    const buf = Buffer.alloc(CHUNK);
    const base = l.headSectors * SECTOR;
    const len = l.volumeSectors * SECTOR;
    const ranges = vs.isFile() ? await dataRanges(volume, len) : [[0, len] as [number, number]];
    for (const [from, to] of ranges) {
      for (let off = from; off < to; ) {
        signal?.throwIfAborted();
        const want = Math.min(CHUNK, to - off);
        const { bytesRead } = await src.read(buf, 0, want, off);
        if (bytesRead === 0) throw new Error(`${volume} ended at byte ${off}, before its size of ${len} bytes (did it shrink?)`);
        const chunk = buf.subarray(0, bytesRead);
        if (!isZero(chunk)) {
          await dst.write(chunk, 0, bytesRead, base + off);
          dataBytes += bytesRead;
        }
        off += bytesRead;
      }
    }
    if (t.bytes.tail.length) await dst.write(t.bytes.tail, 0, t.bytes.tail.length, (l.totalSectors - l.tailSectors) * SECTOR);
    await dst.sync();
    await dst.close();
    dst = undefined;
    await fs.link(tmp, out); // fails if OUT appeared meanwhile: never replaces a file
    await fs.rm(tmp);
    return { out, bytes: l.totalSectors * SECTOR, dataBytes, ms: Date.now() - t0 };
  } catch (err) {
    await dst?.close().catch(() => {});
    await fs.rm(tmp, { force: true });
    throw err;
  } finally {
    await src.close();
  }
}

const ZERO = Buffer.alloc(CHUNK);
const isZero = (b: Buffer) => b.equals(ZERO.subarray(0, b.length)); // memcmp
