/**
 * Unpack selected members of an RPM payload (an uncompressed "newc" cpio archive, as rpm2cpio writes
 * it) into a fresh directory, in TypeScript, so nothing in the archive decides where bytes land:
 * every member name is checked first, and an absolute name, a `..` component or a name that is not
 * plain text refuses the WHOLE archive (as containers/el7/build.sh does for kernel-devel). Symbolic
 * links are never made (a kernel package's build/source links point at /usr/src/kernels: nothing a
 * boot needs), so no later member can be written through one; files are created exclusively, so a
 * duplicate member cannot overwrite another; devices and fifos are skipped. Sizes and counts are bounded.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { NbdforgeError } from '../../errors.ts';

export class PayloadError extends NbdforgeError {
  override name = 'PayloadError';
}

export interface ExtractOptions {
  /** Which members to write (their names without a leading "./"); the rest are only checked. */
  want: (name: string) => boolean;
  /** What the archive is, for messages (kernel-3.10.0-1160.el7.x86_64.rpm). */
  what: string;
  maxBytes?: number;
  maxEntries?: number;
}

export interface ExtractResult {
  files: number;
  bytes: number;
  /** Wanted symbolic links that were not made. */
  skippedLinks: number;
}

const HEADER = 110;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const pad4 = (n: number) => (4 - (n % 4)) % 4;

interface Entry {
  name: string;
  ino: number;
  mode: number;
  nlink: number;
  size: number;
  /** Offset of the member's data in the archive. */
  data: number;
  /** Offset of the next header. */
  next: number;
}

async function readEntry(fh: fs.FileHandle, pos: number, what: string): Promise<Entry | undefined> {
  const h = Buffer.alloc(HEADER);
  const { bytesRead } = await fh.read(h, 0, HEADER, pos);
  if (bytesRead !== HEADER) throw new PayloadError(`${what}: the payload ends inside a cpio header (no trailer)`);
  const magic = h.toString('latin1', 0, 6);
  if (magic !== '070701' && magic !== '070702') throw new PayloadError(`${what}: not a newc cpio payload at offset ${pos}`);
  const field = (i: number) => {
    const s = h.toString('latin1', 6 + i * 8, 14 + i * 8);
    if (!/^[0-9a-fA-F]{8}$/.test(s)) throw new PayloadError(`${what}: malformed cpio header at offset ${pos}`);
    return parseInt(s, 16);
  };
  const namesize = field(11);
  if (namesize < 2 || namesize > 4096) throw new PayloadError(`${what}: cpio member name of ${namesize} bytes at offset ${pos}`);
  const nb = Buffer.alloc(namesize);
  await fh.read(nb, 0, namesize, pos + HEADER);
  if (nb[namesize - 1] !== 0) throw new PayloadError(`${what}: cpio member name not terminated at offset ${pos}`);
  const raw = nb.toString('utf8', 0, namesize - 1);
  if (raw === 'TRAILER!!!') return undefined;
  const size = field(6);
  const data = pos + HEADER + namesize + pad4(HEADER + namesize);
  return { name: checkedName(raw, what), ino: field(0), mode: field(1), nlink: field(4), size, data, next: data + size + pad4(size) };
}

/** The member's name inside the destination, or the archive is refused. */
function checkedName(raw: string, what: string): string {
  const name = raw.replace(/^\.\//, '');
  const leaves = name.startsWith('/') || name.split('/').includes('..');
  if (leaves || /[\u0000-\u001f\u007f\ufffd]/u.test(name)) {
    throw new PayloadError(`refusing ${what}: archive member ${JSON.stringify(raw.slice(0, 200))} leaves the extraction directory`);
  }
  return name;
}

async function copyRange(fh: fs.FileHandle, from: number, size: number, to: string): Promise<void> {
  const out = await fs.open(to, 'wx', 0o644);
  try {
    const buf = Buffer.alloc(Math.min(size, 1 << 20) || 1);
    for (let done = 0; done < size; ) {
      const n = Math.min(buf.length, size - done);
      const { bytesRead } = await fh.read(buf, 0, n, from + done);
      if (bytesRead !== n) throw new PayloadError(`${path.basename(to)}: the payload ends inside this member`);
      await out.write(buf, 0, n);
      done += n;
    }
  } finally {
    await out.close();
  }
}

/** Extract the wanted members of `cpioFile` into `dest` (an empty directory the caller owns). */
export async function extractCpio(cpioFile: string, dest: string, o: ExtractOptions): Promise<ExtractResult> {
  const maxBytes = o.maxBytes ?? 4 * 2 ** 30;
  const maxEntries = o.maxEntries ?? 500_000;
  const fh = await fs.open(cpioFile, 'r');
  const r: ExtractResult = { files: 0, bytes: 0, skippedLinks: 0 };
  // newc hard links: every name but the last carries no data; they are linked once the data came
  const pendingLinks = new Map<number, string[]>();
  try {
    const end = (await fh.stat()).size;
    let pos = 0;
    for (let count = 0; ; count++) {
      if (count > maxEntries) throw new PayloadError(`${o.what}: more than ${maxEntries} archive members`);
      const e = await readEntry(fh, pos, o.what);
      if (!e) break;
      if (e.next > end) throw new PayloadError(`${o.what}: the payload ends inside member ${JSON.stringify(e.name)}`);
      pos = e.next;
      if (!o.want(e.name) || e.name === '') continue;
      const target = path.join(dest, e.name);
      const type = e.mode & S_IFMT;
      if (type === S_IFDIR) await fs.mkdir(target, { recursive: true });
      else if (type === S_IFLNK) r.skippedLinks++;
      else if (type === S_IFREG) {
        await fs.mkdir(path.dirname(target), { recursive: true });
        if (e.nlink > 1 && e.size === 0) {
          pendingLinks.set(e.ino, [...(pendingLinks.get(e.ino) ?? []), target]);
          continue;
        }
        r.bytes += e.size;
        if (r.bytes > maxBytes) throw new PayloadError(`${o.what}: more than ${maxBytes} bytes to unpack`);
        await copyRange(fh, e.data, e.size, target);
        await fs.chmod(target, e.mode & 0o111 ? 0o755 : 0o644);
        r.files++;
        for (const other of pendingLinks.get(e.ino) ?? []) await fs.link(target, other);
        pendingLinks.delete(e.ino);
      }
    }
    // hard-linked names whose data never came: empty files, as cpio makes them
    for (const names of pendingLinks.values()) for (const n of names) await (await fs.open(n, 'wx', 0o644)).close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new PayloadError(`refusing ${o.what}: a member appears twice (${(err as Error).message})`, { cause: err });
    throw err;
  } finally {
    await fh.close();
  }
  return r;
}
