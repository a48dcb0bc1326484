import { BlockScanner, attrsOf, textOf } from './xml-scan.ts';
import { NbdforgeError } from '../errors.ts';

export interface RepomdEntry {
  type: string;
  href: string;
  sha256: string;
  size?: number;
  openSha256?: string;
}

export interface Repomd {
  revision?: string;
  data: Record<string, RepomdEntry>;
}

export class RepomdError extends NbdforgeError {
  override name = 'RepomdError';
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Parse repodata/repomd.xml. Only sha256 checksums are accepted: the chain is as strong as its weakest hash. */
export function parseRepomd(xml: string, where = 'repomd.xml'): Repomd {
  if (!/<repomd[\s>]/.test(xml)) throw new RepomdError(`${where}: not a repomd document`);
  const scanner = new BlockScanner('<data ', '</data>');
  const data: Record<string, RepomdEntry> = {};
  for (const block of scanner.push(xml)) {
    const type = attrsOf(block, 'data')?.type;
    if (!type) throw new RepomdError(`${where}: <data> without a type`);
    const sum = attrsOf(block, 'checksum');
    const value = textOf(block, 'checksum')?.trim().toLowerCase();
    const href = attrsOf(block, 'location')?.href;
    if (!href) throw new RepomdError(`${where}: ${type} has no location`);
    if (sum?.type !== 'sha256' || !value || !HEX64.test(value)) {
      throw new RepomdError(`${where}: ${type} checksum must be sha256, got ${JSON.stringify(sum?.type)}`);
    }
    const size = textOf(block, 'size');
    const open = textOf(block, 'open-checksum')?.trim().toLowerCase();
    data[type] = {
      type,
      href,
      sha256: value,
      size: size === undefined ? undefined : Number(size),
      openSha256: open && attrsOf(block, 'open-checksum')?.type === 'sha256' ? open : undefined,
    };
  }
  return { revision: textOf(xml, 'revision')?.trim(), data };
}
