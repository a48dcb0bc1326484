/**
 * The map journal as Node reads it (the target's sh writes it: src/host/sh/lib.sh). One JSON object
 * per line: {"seq":N,"ev":"info"|"begin"|"done"|"failed"|"undone"|"undo-failed","kind":...,...}
 * where done/failed/undone records point at their begin record with "of".
 */
import { NbdforgeError } from '../errors.ts';

export interface JournalRecord {
  seq: number;
  ev: 'info' | 'begin' | 'done' | 'failed' | 'undone' | 'undo-failed';
  kind?: string;
  of?: number;
  [field: string]: string | number | undefined;
}

export interface Action {
  seq: number;
  kind: string;
  fields: Record<string, string>;
  /** begun and finished / failed / never finished (killed); undone by unmap */
  state: 'done' | 'failed' | 'unfinished';
  undone: boolean;
  undoFailed: boolean;
}

export interface Filesystem {
  dev: string;
  type: string;
  label: string;
  name: string;
  dir?: string;
  opts?: string;
  why?: string;
}

export interface MapState {
  id: string;
  kind: 'map' | 'export';
  image: string;
  mode: string;
  via?: string;
  format?: string;
  root?: string;
  url?: string;
  device?: string;
  complete: boolean;
  actions: Action[];
  filesystems: Filesystem[];
  /** VGs renamed for this map: original -> active name. */
  renamed: Array<{ from: string; to: string; persist: boolean; clone: boolean }>;
  /** Actions unmap still has to take back, newest first. */
  pending: Action[];
}

export class JournalError extends NbdforgeError {
  override name = 'JournalError';
}

export function parseJournal(text: string): JournalRecord[] {
  const out: JournalRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch {
      // a line cut short by a crash is the last one; anything else is damage
      if (i === text.trimEnd().split('\n').length - 1) return;
      throw new JournalError(`journal line ${i + 1} is not JSON: ${line.slice(0, 80)}`);
    }
    if (!r || typeof r !== 'object' || typeof (r as JournalRecord).seq !== 'number' || typeof (r as JournalRecord).ev !== 'string')
      throw new JournalError(`journal line ${i + 1} lacks seq/ev: ${line.slice(0, 80)}`);
    out.push(r as JournalRecord);
  });
  return out;
}

const str = (v: unknown) => (v === undefined ? '' : String(v));

export function mapState(records: JournalRecord[]): MapState {
  const head = records[0];
  if (!head || head.ev !== 'info' || (head.kind !== 'map' && head.kind !== 'export')) throw new JournalError('journal has no map/export header');
  const actions = new Map<number, Action>();
  const filesystems: Filesystem[] = [];
  let format = str(head.format) || undefined;
  let complete = false;
  for (const r of records) {
    if (r.ev === 'begin') {
      const fields: Record<string, string> = {};
      for (const [k, v] of Object.entries(r)) if (!['seq', 'ev', 'kind'].includes(k)) fields[k] = str(v);
      actions.set(r.seq, { seq: r.seq, kind: str(r.kind), fields, state: 'unfinished', undone: false, undoFailed: false });
    } else if (r.ev !== 'info') {
      const a = r.of === undefined ? undefined : actions.get(Number(r.of));
      if (!a) continue;
      if (r.ev === 'done') a.state = 'done';
      else if (r.ev === 'failed') a.state = 'failed';
      else if (r.ev === 'undone') a.undone = true;
      else if (r.ev === 'undo-failed') a.undoFailed = true;
    } else if (r.kind === 'format') format = str(r.format);
    else if (r.kind === 'mapped') complete = true;
    else if (r.kind === 'fs') {
      const label = records.find((b) => b.kind === 'blk' && b.dev === r.dev)?.label;
      filesystems.push({ dev: str(r.dev), type: str(r.type), label: str(label), name: str(r.name), dir: str(r.dir) || undefined, opts: str(r.opts) || undefined, why: str(r.why) || undefined });
    }
  }
  const list = [...actions.values()];
  const device = list.find((a) => a.kind === 'connect' || a.kind === 'loop')?.fields.dev;
  return {
    id: str(head.id),
    kind: head.kind,
    image: str(head.image),
    mode: str(head.mode),
    via: str(head.via) || undefined,
    format,
    root: str(head.root) || undefined,
    url: str(head.url) || undefined,
    device,
    complete: complete || (head.kind === 'export' && list.some((a) => a.kind === 'export' && a.state === 'done')),
    actions: list,
    filesystems,
    renamed: list
      .filter((a) => a.kind === 'rename' || a.kind === 'importclone')
      .map((a) => ({ from: a.fields.from, to: a.fields.to, persist: a.fields.persist === '1', clone: a.kind === 'importclone' })),
    pending: list.filter((a) => !a.undone).reverse(),
  };
}

/** What unmap would do for one journal, newest first, in words (dry runs, reports, tests). */
export function describeUndo(a: Action): string {
  const f = a.fields;
  switch (a.kind) {
    case 'mount':
      return `umount ${f.dir}`;
    case 'mkdir':
      return `rmdir ${f.dir}`;
    case 'activate':
      return `vgchange -an ${f.vg}`;
    case 'rename':
      return f.persist === '1' ? `vgrename ${f.to} ${f.from} (back to the image's own name)` : `nothing (VG ${f.to} was renamed on the snapshot overlay only)`;
    case 'importclone':
      return `nothing (new UUIDs for ${f.to} live on the snapshot overlay only)`;
    case 'connect':
      return `qemu-nbd --disconnect ${f.dev}`;
    case 'loop':
      return `losetup -d ${f.dev}`;
    case 'export':
      return `stop the qemu-nbd server (${f.pidfile})`;
    default:
      return `unknown action ${a.kind}`;
  }
}

/** The table a map prints: what is mounted where. */
export function renderMounts(s: MapState): string {
  const rows = [['DEVICE', 'TYPE', 'LABEL', 'MOUNTED AT', 'OPTIONS'], ...s.filesystems.map((f) => [f.dev, f.type || '-', f.label || '-', f.dir ?? `(${f.why ?? 'not mounted'})`, f.opts ?? '-'])];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd());
  const head = `${s.image} (${s.format ?? '?'}, ${s.mode}) on ${s.device ?? '?'}${s.root ? `, mounted under ${s.root}` : ''}`;
  const vgs = s.renamed.map((r) => `VG ${r.from} is active as ${r.to}${r.clone ? ' (clone: new UUIDs on the snapshot overlay)' : r.persist ? ' (renamed in the image; renamed back at unmap)' : ' (renamed on the snapshot overlay; the image keeps its name)'}`);
  return [head, ...vgs, ...lines].join('\n') + '\n';
}
