import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { BlockScanner, attrsOf, textOf } from './xml-scan.ts';
import { NbdforgeError } from '../errors.ts';

/** One `<package type="rpm">` of primary.xml, reduced to what the catalog needs. */
export interface PackageRecord {
  name: string;
  arch: string;
  epoch: string;
  ver: string;
  rel: string;
  sha256: string;
  size: number;
  /** Relative to the repository root, e.g. `Packages/kernel-devel-...rpm`. */
  href: string;
  sourcerpm?: string;
}

export class PrimaryError extends NbdforgeError {
  override name = 'PrimaryError';
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Parse one package block; `undefined` if its name is not wanted (most of a repository). */
export function parsePackageBlock(block: string, wanted: (name: string) => boolean, where = 'primary.xml'): PackageRecord | undefined {
  if (attrsOf(block, 'package')?.type !== 'rpm') return undefined;
  // Fields before <format> only: the file lists and dependency entries follow it.
  const cut = block.indexOf('<format');
  const head = cut < 0 ? block : block.slice(0, cut);
  const name = textOf(head, 'name')?.trim();
  if (!name || !wanted(name)) return undefined;
  const fail = (why: string): never => {
    throw new PrimaryError(`${where}: package ${name}: ${why}`);
  };
  const arch = textOf(head, 'arch')?.trim() ?? fail('no <arch>');
  const version = attrsOf(head, 'version') ?? fail('no <version>');
  const checksum = attrsOf(head, 'checksum');
  const digest = textOf(head, 'checksum')?.trim().toLowerCase();
  if (checksum?.type !== 'sha256' || !digest || !HEX64.test(digest)) fail(`checksum must be sha256, got ${JSON.stringify(checksum?.type)}`);
  const size = Number(attrsOf(head, 'size')?.package);
  if (!Number.isSafeInteger(size) || size <= 0) fail('no valid <size package=...>');
  const location = attrsOf(head, 'location') ?? fail('no <location>');
  if (location['xml:base']) fail(`location has an xml:base (${location['xml:base']}); only paths inside the repository are trusted`);
  if (!location.href || location.href.startsWith('/') || location.href.split('/').includes('..') || /^[a-z]+:/i.test(location.href)) {
    fail(`location href ${JSON.stringify(location.href)} is not a path inside the repository`);
  }
  if (!version.ver || !version.rel) fail('version without ver/rel');
  return {
    name,
    arch,
    epoch: version.epoch ?? '0',
    ver: version.ver,
    rel: version.rel,
    sha256: digest!,
    size,
    href: location.href,
    sourcerpm: cut < 0 ? undefined : textOf(block.slice(cut), 'rpm:sourcerpm')?.trim() || undefined,
  };
}

/** Stream a primary.xml.gz file and keep the wanted packages. Memory stays at one block. */
export async function scanPrimaryGz(file: string, wanted: (name: string) => boolean, where = file): Promise<PackageRecord[]> {
  const scanner = new BlockScanner('<package ', '</package>');
  const out: PackageRecord[] = [];
  let sawRoot = false;
  const stream = createReadStream(file).pipe(createGunzip());
  stream.setEncoding('utf8');
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      if (!sawRoot && /<metadata[\s>]/.test(chunk)) sawRoot = true;
      for (const block of scanner.push(chunk)) {
        const rec = parsePackageBlock(block, wanted, where);
        if (rec) out.push(rec);
      }
    }
    scanner.end();
  } catch (err) {
    if (err instanceof PrimaryError) throw err;
    throw new PrimaryError(`${where}: ${(err as Error).message}`, { cause: err });
  }
  if (!sawRoot) throw new PrimaryError(`${where}: not a primary metadata document`);
  return out;
}
