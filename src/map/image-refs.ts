import fs from 'node:fs/promises';
import path from 'node:path';
import { NbdforgeError } from '../errors.ts';

/**
 * The image check in TypeScript, for plans made where the image is (a local map or export, a dry
 * run): the same rules as the target's shell (src/host/sh/refs.sh), which is what decides, since the
 * host may be remote and the file may change before the plan runs. The format comes from --format or
 * the file's name and the header must agree (never probed: a guest writes its own disk's bytes);
 * every file a layer names must be a regular file inside the image's directory tree after links are
 * resolved, or be named by --allow-external. test/unit/map-image-refs.test.ts holds both to the same
 * answers on images qemu-img makes.
 */
export class ImageRefused extends NbdforgeError {
  override name = 'ImageRefused';
}

export interface ImageCheck {
  /** The format pinned for the image itself. */
  format: string;
  /** "top.qcow2 (qcow2) <- base.raw (raw) [data file d.raw]", as the shell prints it. */
  chain: string;
  /** A raw image whose header claims a format. */
  warning?: string;
}

export const CHECKED_FORMATS = ['raw', 'qcow2', 'vmdk', 'vhdx', 'vdi', 'vpc', 'qed'];
const NAMED: Array<[RegExp, string]> = [[/\.(qcow2|qcow)$/i, 'qcow2'], [/\.vmdk$/i, 'vmdk'], [/\.vhdx$/i, 'vhdx'], [/\.vdi$/i, 'vdi'], [/\.(vhd|vpc)$/, 'vpc'], [/\.qed$/i, 'qed'], [/\.raw$/i, 'raw']];

export function formatByName(file: string): string | undefined {
  const base = path.basename(file);
  return NAMED.find(([re]) => re.test(base))?.[1];
}

async function bytesAt(file: string, off: number, len: number): Promise<Buffer> {
  const h = await fs.open(file, 'r');
  try {
    const b = Buffer.alloc(len);
    const { bytesRead } = await h.read(b, 0, len, off);
    return b.subarray(0, bytesRead);
  } finally {
    await h.close();
  }
}

/** The format the first bytes claim ('' for none). */
export async function magicOf(file: string): Promise<string> {
  const b = await bytesAt(file, 0, 68);
  const hex = b.subarray(0, 8).toString('hex');
  if (hex.startsWith('514649fb')) return 'qcow2';
  if (hex.startsWith('4b444d56') || hex.startsWith('434f5744')) return 'vmdk';
  if (hex === '7668647866696c65') return 'vhdx';
  if (hex === '636f6e6563746978') return 'vpc';
  if (hex.startsWith('51454400')) return 'qed';
  if (b.length >= 68 && b.subarray(64, 68).toString('hex') === '7f10dabe') return 'vdi';
  return '';
}

async function vmdkText(file: string): Promise<boolean> {
  const t = (await bytesAt(file, 0, 512)).toString('latin1').replace(/\r/g, '');
  return /(^|\n)version=[123](\n|$)/.test(t);
}

async function agrees(file: string, format: string): Promise<boolean> {
  if (format === 'raw') return true;
  const m = await magicOf(file);
  if (m === format) return true;
  if (format === 'vmdk' && m === '') return vmdkText(file);
  if (format === 'vpc') {
    const st = await fs.stat(file);
    return st.isFile() && (await bytesAt(file, st.size - 512, 8)).toString('hex') === '636f6e6563746978';
  }
  return false;
}

/** What cannot be an image, from stat alone (a FIFO is never opened). */
export async function kindProblem(file: string): Promise<string | undefined> {
  const st = await fs.stat(file).catch(() => undefined);
  if (!st) return `${file} does not exist`;
  if (st.isFIFO()) return `${file} is a FIFO, not a disk image`;
  if (st.isCharacterDevice()) return `${file} is a character device, not a disk image`;
  if (st.isSocket()) return `${file} is a socket, not a disk image`;
  if (st.isDirectory()) return `${file} is a directory, not a disk image`;
  if (st.isFile() && st.size === 0) return `${file} is empty (0 bytes), not a disk image`;
  if (st.isFile() || st.isBlockDevice()) return undefined;
  return `${file} is neither a regular file nor a block device`;
}

const plain = (s: string) => !/["\\\x00-\x1f\x7f]/.test(s);

interface Walk {
  tree: string;
  allow: Set<string>;
  seen: Set<string>;
  chain: string;
  depth: number;
}

interface Ref {
  /** The path qemu opens, or the protocol name when allowed. */
  qp: string;
  /** The real file; undefined for an allowed protocol name. */
  real?: string;
}

async function resolveRef(w: Walk, from: string, name: string, what: string): Promise<Ref> {
  if (name === '') throw new ImageRefused(`${from} names an empty ${what}`);
  const proto = /^[^/][^:]*:/.test(name) && !name.slice(0, name.indexOf(':')).includes('/');
  if (proto) {
    if (w.allow.has(name)) return { qp: name };
    throw new ImageRefused(`${from} names ${what} ${name}: a protocol or json: filename, not a file (--allow-external ${name} if you mean it)`);
  }
  const qp = name.startsWith('/') ? name : `${path.dirname(from)}/${name}`;
  const real = await fs.realpath(qp).catch(() => undefined);
  if (!real) throw new ImageRefused(`${from} names ${what} ${name}, which does not exist`);
  const st = await fs.stat(real);
  const inside = real.startsWith(`${w.tree}/`);
  if (!inside || !st.isFile()) {
    if (w.allow.has(name) || w.allow.has(real)) return { qp, real };
    if (!st.isFile()) throw new ImageRefused(`${from} names ${what} ${name} (${real}), which is not a regular file (--allow-external ${real} if you mean it)`);
    throw new ImageRefused(`${from} names ${what} ${name} (${real}), outside the image's directory ${w.tree} (--allow-external ${real} if you mean it)`);
  }
  const k = await kindProblem(real);
  if (k) throw new ImageRefused(`${from} names ${what} ${name}: ${k}`);
  return { qp, real };
}

async function layer(w: Walk, qp: string, real: string, format: string): Promise<void> {
  w.depth++;
  if (w.depth > 16) throw new ImageRefused(`${qp}: the backing chain is longer than 16 layers`);
  if (w.seen.has(real)) throw new ImageRefused(`${qp}: backing loop (${real} is already in the chain: ${w.chain})`);
  w.seen.add(real);
  w.chain += `${w.chain ? ' <- ' : ''}${path.basename(qp)} (${format})`;
  if (format === 'qcow2') return qcow2(w, qp, real);
  if (format === 'vmdk') return vmdk(w, qp, real);
  if (format === 'vhdx') return vhdx(qp, real);
  if (format === 'qed') {
    const b = await bytesAt(real, 16, 8);
    if (b.length === 8 && b.readBigUInt64LE(0) & 1n) throw new ImageRefused(`${qp} is a QED image with a backing file: nbdforge does not follow QED backing files (qemu-img convert -O qcow2 first)`);
    return;
  }
  if (!['raw', 'vdi', 'vpc'].includes(format)) throw new ImageRefused(`${qp}: nbdforge cannot check what a ${format} layer references`);
}

async function qcow2(w: Walk, qp: string, real: string): Promise<void> {
  if (!(await agrees(real, 'qcow2'))) throw new ImageRefused(`${qp} is not qcow2`);
  const h = await bytesAt(real, 0, 104);
  const version = h.readUInt32BE(4);
  const bo = Number(h.readBigUInt64BE(8));
  const bs = h.readUInt32BE(16);
  const cluster = 2 ** h.readUInt32BE(20);
  let eo = 72;
  let incompatible = 0n;
  if (version >= 3) {
    incompatible = h.readBigUInt64BE(72);
    eo = h.readUInt32BE(100);
  }
  let backingFormat = '';
  let dataFile: string | undefined;
  for (let i = 0; eo < cluster && i < 64; i++) {
    const e = await bytesAt(real, eo, 8);
    if (e.length < 8) break;
    const type = e.readUInt32BE(0);
    const len = e.readUInt32BE(4);
    if (type === 0) break;
    if (type === 0xe2792aca || type === 0x44415441) {
      if (len > 1023) throw new ImageRefused(`${qp}: a header extension names more than 1023 bytes`);
      const text = (await bytesAt(real, eo + 8, len)).toString('latin1');
      if (text.length !== len || !plain(text)) throw new ImageRefused(type === 0xe2792aca ? `${qp}: its backing format is not plain text` : `${qp}: its external data file name is not plain text`);
      if (type === 0xe2792aca) backingFormat = text;
      else dataFile = text;
    }
    eo += 8 + Math.ceil(len / 8) * 8;
  }
  if (incompatible & 4n && dataFile === undefined) throw new ImageRefused(`${qp} needs an external data file but does not name one`);
  if (dataFile !== undefined) {
    await resolveRef(w, qp, dataFile, 'the external data file');
    w.chain += ` [data file ${dataFile}]`;
  }
  if (bo === 0 || bs === 0) return;
  if (bs > 1023) throw new ImageRefused(`${qp}: its backing file name is longer than 1023 bytes`);
  const name = (await bytesAt(real, bo, bs)).toString('latin1');
  if (name.length !== bs || !plain(name)) throw new ImageRefused(`${qp}: its backing file name is not a plain path (quotes, backslashes or control characters: a json: filename?)`);
  const ref = await resolveRef(w, qp, name, 'the backing file');
  if (!ref.real) {
    if (!backingFormat) throw new ImageRefused(`${qp} names the backing ${name} without a backing format`);
    w.chain += ` <- ${name} (${backingFormat}, allowed external, not inspected)`;
    return;
  }
  if (!backingFormat) {
    const byName = formatByName(ref.real);
    if (!byName || byName === 'raw' || !(await agrees(ref.real, byName)))
      throw new ImageRefused(`${qp} names the backing file ${name} without a backing format (qemu would probe it): record it with qemu-img rebase -u -F FORMAT -b ${name} ${qp}`);
    backingFormat = byName;
  }
  if (!CHECKED_FORMATS.includes(backingFormat)) throw new ImageRefused(`${qp}: backing format ${backingFormat} of ${name} cannot be checked`);
  if (!(await agrees(ref.real, backingFormat))) throw new ImageRefused(`${qp} says its backing file ${name} is ${backingFormat}, but its header does not`);
  return layer(w, ref.qp, ref.real, backingFormat);
}

async function vmdk(w: Walk, qp: string, real: string): Promise<void> {
  const head = await bytesAt(real, 0, 44);
  const magic = head.subarray(0, 4).toString('hex');
  let desc: string;
  if (magic === '434f5744') return;
  if (magic === '4b444d56') {
    const off = Number(head.readBigUInt64LE(28));
    const size = Number(head.readBigUInt64LE(36));
    if (off === 0) return;
    if (size > 2048) throw new ImageRefused(`${qp}: its embedded descriptor is larger than 1 MiB`);
    desc = (await bytesAt(real, off * 512, size * 512)).toString('latin1');
  } else desc = (await bytesAt(real, 0, 1 << 20)).toString('latin1');
  desc = desc.replace(/[\0\r]/g, '');
  for (const raw of desc.split('\n')) {
    const line = raw.replace(/^[ \t]+/, '');
    if (line === '' || line.startsWith('#') || !line.includes('"')) continue;
    const pre = line.slice(0, line.indexOf('"'));
    if (pre.includes('=')) continue;
    const name = line.slice(pre.length + 1).split('"')[0];
    const type = pre.replace(/ $/, '').split(' ').pop()!;
    const ref = await resolveRef(w, qp, name, `the extent (${type})`);
    if (!ref.real) throw new ImageRefused(`${qp}: its extent ${name} is not a file`);
    w.chain += ` [extent ${name}]`;
    if (['SPARSE', 'VMFSSPARSE', 'SESPARSE'].includes(type)) {
      const e = await bytesAt(ref.real, 0, 20);
      if (e.length === 20 && e.subarray(0, 4).toString('hex') === '4b444d56' && e.readBigUInt64LE(12) === 0n)
        throw new ImageRefused(`${qp}: its sparse extent ${name} is itself a descriptor (capacity 0): nested descriptors are not followed`);
    }
  }
  const at = desc.indexOf('parentFileNameHint');
  if (at < 0) return;
  const name = desc.slice(at + 'parentFileNameHint'.length + 2).split('"')[0];
  const ref = await resolveRef(w, qp, name, 'the parent (parentFileNameHint)');
  if (!ref.real) throw new ImageRefused(`${qp}: its parent ${name} is not a file`);
  const pf = formatByName(ref.real);
  if (!pf || pf === 'raw' || !(await agrees(ref.real, pf))) throw new ImageRefused(`${qp} names the parent ${name}, whose format qemu would have to probe`);
  return layer(w, ref.qp, ref.real, pf);
}

const METADATA_REGION = '06a27c8b90479a4bb8fe575f050f886e';
const PARENT_LOCATOR = '2d5fd3a80bb34d45abf7d3d84834ab0c';

async function vhdx(qp: string, real: string): Promise<void> {
  // as the shell reads it: the metadata region's entry in the region table, then a parent locator anywhere in its table
  const table = await bytesAt(real, 196624, 1024);
  const at = table.indexOf(Buffer.from(METADATA_REGION, 'hex'));
  if (at < 0 || at % 32 !== 0 || at + 24 > table.length) return;
  const mo = Number(table.readBigUInt64LE(at + 16));
  const mh = await bytesAt(real, mo + 10, 2);
  const n = Math.min(mh.length === 2 ? mh.readUInt16LE(0) : 0, 2047);
  if (n === 0) return;
  if ((await bytesAt(real, mo + 32, n * 32)).includes(Buffer.from(PARENT_LOCATOR, 'hex')))
    throw new ImageRefused(`${qp} is a VHDX differencing disk (it has a parent locator): nbdforge does not follow VHDX parents`);
}

/** The format to pin for IMAGE itself (the shell's nm_top_format). */
async function topFormat(image: string, given?: string): Promise<string> {
  if (given) {
    if (!CHECKED_FORMATS.includes(given)) throw new ImageRefused(`--format ${given}: nbdforge cannot check what a ${given} image references; convert it (qemu-img convert -O qcow2) or map the raw bytes with --format raw`);
    if (!(await agrees(image, given))) throw new ImageRefused(`${image} is not ${given} (its header does not say so): check --format`);
    return given;
  }
  if ((await fs.stat(image)).isBlockDevice()) return 'raw';
  const byName = formatByName(image);
  if (byName) {
    if (!(await agrees(image, byName))) {
      const m = (await magicOf(image)) || 'raw';
      throw new ImageRefused(`${image} is named as ${byName} but its header says ${m}: give --format ${m} if that is what it is`);
    }
    return byName;
  }
  const m = await magicOf(image);
  if (m) throw new ImageRefused(`${image} starts with a ${m} header, but neither its name nor --format says ${m} (a raw disk a guest wrote can start with one): give --format ${m} if it is one, --format raw if not`);
  return 'raw';
}

/** Check IMAGE and every file its layers reference; throws ImageRefused with the shell's message. */
export async function checkImage(image: string, opts: { format?: string; allow?: string[] } = {}): Promise<ImageCheck> {
  const k = await kindProblem(image);
  if (k) throw new ImageRefused(k);
  const real = await fs.realpath(image);
  const allow = new Set<string>();
  for (const a of opts.allow ?? []) {
    allow.add(a);
    const r = await fs.realpath(a).catch(() => undefined);
    if (r) allow.add(r);
  }
  const w: Walk = { tree: path.dirname(real), allow, seen: new Set(), chain: '', depth: 0 };
  const format = await topFormat(image, opts.format);
  await layer(w, image, real, format);
  const m = format === 'raw' ? await magicOf(image) : '';
  return { format, chain: w.chain, ...(m ? { warning: `${image} starts with a ${m} header but is served as raw (--format ${m} if it really is ${m})` } : {}) };
}

/** For a plan's text: "chain: ..." or "refused: ..." (the target's own check decides); nothing when the image is not here. */
export async function seenHere(image: string, format?: string, allow?: string[]): Promise<string | undefined> {
  try {
    return `chain: ${(await checkImage(image, { format, allow })).chain}`;
  } catch (err) {
    return err instanceof ImageRefused ? `refused: ${err.message}` : undefined;
  }
}
