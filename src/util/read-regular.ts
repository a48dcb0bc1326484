/**
 * Reading a file from a place someone else can write (a store to merge, a shard from CI): only a
 * regular file is opened and read, never through a symlink in its last component (O_NOFOLLOW),
 * never a FIFO or a device (O_NONBLOCK makes opening a FIFO return at once; fstat then refuses
 * it), and never more than the caller's cap. Errors name the file and what it is, nothing of its
 * content.
 */
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import { NbdforgeError } from '../errors.ts';

export class NotRegularFileError extends NbdforgeError {
  override name = 'NotRegularFileError';
}

function kind(st: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

export interface ReadRegularOptions {
  /** Refuse a file larger than this. */
  maxBytes: number;
  /** Refuse a file whose size is not exactly this (a manifest's size). */
  exactBytes?: number;
  /** Follow a symlink in the last component (still refusing FIFOs and devices). */
  followSymlink?: boolean;
}

export async function readRegular(file: string, o: ReadRegularOptions): Promise<Buffer> {
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | (o.followSymlink ? 0 : constants.O_NOFOLLOW);
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, flags);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'EMLINK') throw new NotRegularFileError(`${file}: a symlink; only regular files are read`);
    if (code === 'ENXIO') throw new NotRegularFileError(`${file}: a socket or a FIFO; only regular files are read`);
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new NotRegularFileError(`${file}: ${kind(st)}; only regular files are read`);
    if (o.exactBytes !== undefined && st.size !== o.exactBytes) throw new NotRegularFileError(`${file}: ${st.size} bytes, its manifest says ${o.exactBytes}`);
    if (st.size > o.maxBytes) throw new NotRegularFileError(`${file}: ${st.size} bytes, more than the ${o.maxBytes} allowed`);
    // Read one byte past the size: a file that grows while we read is refused, not truncated.
    const buf = Buffer.alloc(st.size + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > st.size) throw new NotRegularFileError(`${file}: grew while it was read`);
    }
    if (n !== st.size) throw new NotRegularFileError(`${file}: shrank while it was read`);
    return buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}
