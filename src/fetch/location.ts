import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Where bytes come from: an http(s) URL, a file:// URL or a plain local path. A vault base may be
 * any of the three (the public vault, an internal mirror, a directory on disk).
 */
export type Location = { kind: 'http'; url: string } | { kind: 'file'; path: string; url: string };

export function parseLocation(where: string): Location {
  if (/^https?:\/\//i.test(where)) return { kind: 'http', url: new URL(where).href };
  if (/^file:\/\//i.test(where)) return { kind: 'file', path: fileURLToPath(where), url: where };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(where)) throw new Error(`unsupported URL scheme: ${where}`);
  const abs = path.resolve(where);
  return { kind: 'file', path: abs, url: pathToFileURL(abs).href };
}

/** Resolve `rel` (a path relative to the base, like `7.9.2009/os/x86_64/repodata/repomd.xml`) under `base`. */
export function joinLocation(base: string, rel: string): string {
  if (rel.startsWith('/') || /^[a-z][a-z0-9+.-]*:/i.test(rel)) throw new Error(`not a relative location: ${rel}`);
  const segments = rel.split('/');
  if (segments.some((s) => s === '..')) throw new Error(`refusing a location that climbs out of its base: ${rel}`);
  const loc = parseLocation(base);
  if (loc.kind === 'http') return new URL(rel, loc.url.endsWith('/') ? loc.url : `${loc.url}/`).href;
  if (/^file:\/\//i.test(base)) return pathToFileURL(path.join(loc.path, ...segments)).href;
  return path.join(loc.path, ...segments);
}
