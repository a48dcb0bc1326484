/**
 * The debian12 family's data: kernel lines and flavours read from kernels/debian12/lines.json. A new
 * line or flavour is an edit of that file; nothing here names one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '../../util/hash.ts';

export const LINES_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../kernels/debian12/lines.json');

export interface PackageRule {
  /** Templates of package names, tried in order (e.g. the signed image, then the unsigned one). */
  names: string[];
  /** exact: at the kernel's source version; same-or-newest: that version if the archive has it, else its newest. */
  version: 'exact' | 'same-or-newest';
}

export interface Flavour {
  flavour: string;
  /** Suffix of the headers-common package this flavour's headers depend on: common, common-rt. */
  common: string;
}

export interface Line {
  line: string;
  /** Regular expression of the ABI as package names spell it, e.g. 6\.1\.0-[0-9]+. */
  abi: string;
  /** Template of the kernel release (uname -r). */
  release: string;
  /** role -> rule, in the order of the kernel's files; the first role discovers the ABIs and gives the source version. */
  packages: Record<string, PackageRule>;
  /** Member of the source package holding the tree, and the tree's top directory inside it. */
  sourceTarball: string;
  sourcePrefix: string;
  /** Template of the image package's member holding the shipped module ({path}: e.g. drivers/block/nbd). */
  shippedModule: string;
  flavours: Flavour[];
}

export interface Lines {
  lines: Line[];
  /** Hash of the file: a cached catalog made from other data is stale. */
  sha256: string;
}

const TEMPLATE = /^[A-Za-z0-9.+_{}\/-]+$/;
const PLACEHOLDERS = new Set(['abi', 'flavour', 'common', 'release', 'path']);

function fail(file: string, why: string): never {
  throw new Error(`${file}: ${why} (fix the file; kernels/debian12/README.md describes it)`);
}

function template(file: string, where: string, v: unknown): string {
  if (typeof v !== 'string' || !TEMPLATE.test(v)) fail(file, `${where} must be a package-name template, got ${JSON.stringify(v)}`);
  for (const m of v.matchAll(/\{([^}]*)\}/g)) if (!PLACEHOLDERS.has(m[1])) fail(file, `${where}: unknown placeholder {${m[1]}}`);
  return v;
}

/** Validate parsed lines.json: every field a build reaches is checked before any is used. */
export function parseLines(text: string, file = LINES_FILE): Lines {
  let j: { lines?: unknown };
  try {
    j = JSON.parse(text);
  } catch (e) {
    fail(file, `not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(j?.lines) || j.lines.length === 0) fail(file, '"lines" must be a non-empty array');
  const seen = new Set<string>();
  const lines = j.lines.map((l: Record<string, unknown>, i: number): Line => {
    const at = `lines[${i}]`;
    if (typeof l?.line !== 'string' || !/^[0-9.]+$/.test(l.line) || seen.has(l.line)) fail(file, `${at}.line must be a unique version such as "6.1"`);
    seen.add(l.line);
    // The pattern is used by JavaScript and by grep -E in the container: only the syntax both read alike.
    if (typeof l.abi !== 'string' || !/^[A-Za-z0-9.\\+\[\]*-]+$/.test(l.abi)) fail(file, `${at}.abi must be a simple regular expression such as 6\\.1\\.0-[0-9]+`);
    try {
      new RegExp(l.abi);
    } catch (e) {
      fail(file, `${at}.abi: ${(e as Error).message}`);
    }
    if (typeof l.packages !== 'object' || !l.packages || Object.keys(l.packages).length === 0) fail(file, `${at}.packages must map roles to rules`);
    const packages: Record<string, PackageRule> = {};
    for (const [role, r] of Object.entries(l.packages as Record<string, { names?: unknown; version?: unknown }>)) {
      if (!/^[a-z-]+$/.test(role)) fail(file, `${at}.packages: bad role ${JSON.stringify(role)}`);
      if (!Array.isArray(r?.names) || r.names.length === 0) fail(file, `${at}.packages.${role}.names must be a non-empty array`);
      if (r.version !== 'exact' && r.version !== 'same-or-newest') fail(file, `${at}.packages.${role}.version must be "exact" or "same-or-newest"`);
      packages[role] = { names: r.names.map((n, k) => template(file, `${at}.packages.${role}.names[${k}]`, n)), version: r.version };
    }
    for (const role of ['headers-common', 'headers', 'kbuild', 'source', 'image'])
      if (!packages[role]) fail(file, `${at}.packages has no "${role}" (the build recipe needs it)`);
    const [first, second] = Object.values(packages);
    if (!first.names.every((n) => n.includes('{abi}'))) fail(file, `${at}: the first package role must name {abi}: it discovers the kernels`);
    if (!second?.names.every((n) => n.includes('{flavour}'))) fail(file, `${at}: the second package role must name {flavour}: it says which flavours an ABI has`);
    if (!Array.isArray(l.flavours) || l.flavours.length === 0) fail(file, `${at}.flavours must be a non-empty array`);
    const flavours = (l.flavours as Array<Record<string, unknown>>).map((f, k) => {
      if (typeof f?.flavour !== 'string' || !/^[a-z0-9-]+$/.test(f.flavour)) fail(file, `${at}.flavours[${k}].flavour must be a name such as "rt-amd64"`);
      if (typeof f.common !== 'string' || !/^[a-z0-9-]+$/.test(f.common)) fail(file, `${at}.flavours[${k}].common must be a suffix such as "common-rt"`);
      return { flavour: f.flavour, common: f.common };
    });
    const tarball = template(file, `${at}.sourceTarball`, l.sourceTarball);
    const prefix = template(file, `${at}.sourcePrefix`, l.sourcePrefix);
    if (tarball.includes('..') || prefix.includes('..') || !prefix.endsWith('/')) fail(file, `${at}: sourceTarball/sourcePrefix must not climb and the prefix ends with /`);
    const shipped = template(file, `${at}.shippedModule`, l.shippedModule);
    if (shipped.includes('..')) fail(file, `${at}.shippedModule must not climb`);
    return { line: l.line, abi: l.abi, release: template(file, `${at}.release`, l.release), packages, sourceTarball: tarball, sourcePrefix: prefix, shippedModule: shipped, flavours };
  });
  return { lines, sha256: sha256(text) };
}

let loaded: Lines | undefined;
/** The installed data, read once per process (it ships with the tool). */
export function loadLines(): Lines {
  loaded ??= parseLines(fs.readFileSync(LINES_FILE, 'utf8'));
  return loaded;
}

/** Fill a template's placeholders; an unfilled one is a bug in the caller, not in the data. */
export function fill(t: string, vars: Record<string, string>): string {
  return t.replace(/\{([a-z]+)\}/g, (_, k: string) => {
    if (vars[k] === undefined) throw new Error(`template ${t}: no value for {${k}}`);
    return vars[k];
  });
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A template as an anchored regular expression, {abi} captured by the line's pattern. */
export function templateRegExp(t: string, abi: string, vars: Record<string, string>): RegExp {
  const parts = t.split(/(\{[a-z]+\})/).map((p) => {
    if (p === '{abi}') return `(${abi})`;
    const m = /^\{([a-z]+)\}$/.exec(p);
    return escapeRe(m ? fill(p, vars) : p);
  });
  return new RegExp(`^${parts.join('')}$`);
}

/**
 * What catalog.sh lists: name prefixes for `apt-cache pkgnames` (the literal text before a template's
 * first placeholder) and one extended regular expression per wanted name, for `grep -Ex`.
 */
export function aptQuery(lines: Lines): { prefixes: string[]; patterns: string[] } {
  const prefixes = new Set<string>();
  const patterns = new Set<string>();
  for (const l of lines.lines)
    for (const f of l.flavours)
      for (const rule of Object.values(l.packages))
        for (const n of rule.names) {
          prefixes.add(n.split('{')[0]);
          patterns.add(templateRegExp(n, l.abi, { flavour: f.flavour, common: f.common }).source.replace(/^\^|\$$/g, ''));
        }
  // A prefix another one covers (linux-kbuild-6.1 under linux-kbuild-) would only list names twice.
  const sorted = [...prefixes].sort();
  return { prefixes: sorted.filter((p) => !sorted.some((q) => q !== p && p.startsWith(q))), patterns: [...patterns].sort() };
}
