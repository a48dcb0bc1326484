/**
 * Deterministic image layers: the same files always give the same bytes and so the same digest
 * (fixed mtime, root owner, sorted entries, parents listed first, gzip without a timestamp). That
 * is what lets a re-publish find every blob already in the registry and send nothing.
 */
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { digestOf } from './digest.ts';

export type LayerEntry =
  | { path: string; type: 'file'; data: Buffer; mode?: number }
  | { path: string; type: 'symlink'; target: string };

export interface Layer {
  /** The gzip-compressed tar: what is uploaded. */
  blob: Buffer;
  digest: string;
  /** sha256 of the uncompressed tar: the config's rootfs.diff_ids. */
  diffId: string;
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip';
}

// 2000-01-01: a fixed, obviously synthetic time (0 makes some tools print 1970 warnings).
const MTIME = new Date(946684800 * 1000);

export async function buildLayer(entries: LayerEntry[]): Promise<Layer> {
  const tarBytes = await packTar(entries);
  const blob = gzipSync(tarBytes, { level: 6 });
  return { blob, digest: digestOf(blob), diffId: digestOf(tarBytes), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' };
}

async function packTar(entries: LayerEntry[]): Promise<Buffer> {
  const dirs = new Set<string>();
  for (const e of entries) {
    if (e.path.startsWith('/') || e.path.split('/').some((p) => p === '..' || p === '.' || p === '')) throw new Error(`bad layer path "${e.path}"`);
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  const base = { mtime: MTIME, uid: 0, gid: 0, uname: 'root', gname: 'root' };
  const add = (header: Partial<tar.Header> & { name: string }, data?: Buffer) =>
    new Promise<void>((resolve, reject) => pack.entry(header as tar.Header, data ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
  for (const d of [...dirs].sort()) await add({ ...base, name: `${d}/`, type: 'directory', mode: 0o755 });
  for (const e of sorted) {
    if (e.type === 'file') await add({ ...base, name: e.path, type: 'file', mode: e.mode ?? 0o644, size: e.data.length }, e.data);
    else await add({ ...base, name: e.path, type: 'symlink', linkname: e.target, mode: 0o777 });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}
