import { readFileSync } from 'node:fs';

/**
 * The device library of the host steps (src/host/sh/: the journal, locks, image references, users
 * of a device), shared by map's and compose's step programs. Those run where the devices are:
 * on a host without Node (CentOS 7), in a test guest, or locally through the LocalRunner. Each step
 * is `sh -c LIB+BODY sh ARGS...`; the emitted script turns that into a subshell, so the library
 * costs no extra process. Comments and indentation are dropped and each step carries only the
 * library functions it calls: under emulation, parsing the script is a measurable part of a map.
 */
const read = (name: string) => readFileSync(new URL(`./sh/${name}.sh`, import.meta.url), 'utf8');

/** Drop comment lines, blank lines and indentation (the sources keep no '#' or indented text inside here-documents). */
export function compact(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .join('\n');
}

interface Chunk {
  name?: string;
  text: string;
}

/** Top-level pieces of the library: one per function (one-line, or up to a line holding only "}"), and the other statements. */
export function libChunks(lib: string): Chunk[] {
  const out: Chunk[] = [];
  const lines = lib.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\(\) \{/.exec(lines[i]);
    if (!m) {
      if (lines[i].trim() && !lines[i].trim().startsWith('#')) out.push({ text: lines[i] });
      continue;
    }
    if (!lines[i].replace(/\s+#.*$/, '').trimEnd().endsWith('{')) {
      out.push({ name: m[1], text: lines[i] });
      continue;
    }
    const start = i;
    while (i < lines.length && lines[i] !== '}') i++;
    out.push({ name: m[1], text: lines.slice(start, i + 1).join('\n') });
  }
  return out;
}

/** The lock policy (util/file-lock.sh, shared with emitted scripts) comes first, then the map library. */
const LOCK_SOURCE = readFileSync(new URL('../util/file-lock.sh', import.meta.url), 'utf8');
const LIB_SOURCE = [LOCK_SOURCE, ...['lib', 'refs', 'refs-vmdk', 'users'].map(read)].join('\n');
const CHUNKS = libChunks(LIB_SOURCE);

/** The library functions BODY uses, directly or through each other, in library order. */
export function libFor(body: string): string {
  const named = CHUNKS.filter((c) => c.name);
  const want = new Set<string>();
  const uses = (text: string) => named.filter((c) => new RegExp(`(^|[^A-Za-z0-9_])${c.name}([^A-Za-z0-9_]|$)`, 'm').test(text)).map((c) => c.name!);
  const queue = uses(body);
  while (queue.length) {
    const n = queue.pop()!;
    if (want.has(n)) continue;
    want.add(n);
    queue.push(...uses(named.find((c) => c.name === n)!.text));
  }
  return compact(CHUNKS.filter((c) => !c.name || want.has(c.name)).map((c) => c.text).join('\n'));
}

/** The whole library (the emitted map script's epilogue uses it for the table). */
export const LIB = LIB_SOURCE;
export const TABLE = read('table');
