/**
 * Rollback protection for a published directory read over http(s): its index.json carries a serial
 * that only grows and an expiry (nbdforge publish --valid-for). The highest serial this machine
 * accepted from each source is kept in <stateDir>/serials/<sha256 of the source URL without
 * trailing slashes>, one line "SERIAL URL": the same file install.sh reads and writes, so a host
 * that took serial N through either refuses an older tree through both.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { sha256 } from '../util/hash.ts';
import { SourceError } from './source-error.ts';

/** Where the state lives unless NBDFORGE_STATE_DIR says otherwise (read at the edge). */
export const DEFAULT_STATE_DIR = '/var/lib/nbdforge';

export function serialFile(stateDir: string, source: string): string {
  return path.join(stateDir, 'serials', sha256(source.replace(/\/+$/, '')));
}

export interface Freshness {
  stateDir: string;
  now: Date;
  warn?: (m: string) => void;
}

/** Refuse an index without serial/expiry, an expired one, or one older than the serial seen; record a newer one. */
export async function checkFresh(index: { serial?: unknown; expires?: unknown; validUntil?: unknown }, source: string, shown: string, f: Freshness): Promise<number> {
  const { serial, expires } = index;
  if (!Number.isSafeInteger(serial) || !Number.isSafeInteger(expires))
    throw new SourceError(`${shown} carries no serial and expiry (published by an nbdforge without rollback protection, or replayed from then): publish it again; refused`);
  const until = typeof index.validUntil === 'string' ? index.validUntil : new Date((expires as number) * 1000).toISOString();
  if (Math.floor(f.now.getTime() / 1000) >= (expires as number))
    throw new SourceError(`${shown} (serial ${serial}) expired at ${until}: the publisher must publish again (nbdforge publish --valid-for DAYS); refused`);
  const file = serialFile(f.stateDir, source);
  const text = await fs.readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? '' : Promise.reject(e)));
  const seenText = text.split(/\s/)[0];
  if (seenText !== '' && !/^[0-9]{1,15}$/.test(seenText)) throw new SourceError(`${file} is damaged (${JSON.stringify(seenText.slice(0, 20))}): check it, or remove it to trust ${source} afresh`);
  const seen = seenText === '' ? undefined : Number(seenText);
  if (seen !== undefined && (serial as number) < seen)
    throw new SourceError(`${shown} has serial ${serial}, older than serial ${seen} this host already accepted from ${source.replace(/\/+$/, '')}: an older tree served again (rollback); refused`);
  if (seen === undefined || (serial as number) > seen) {
    try {
      await fs.mkdir(path.dirname(file), { recursive: true });
      const tmp = `${file}.new-${randomBytes(4).toString('hex')}`;
      await fs.writeFile(tmp, `${serial} ${source.replace(/\/+$/, '')}\n`);
      await fs.rename(tmp, file);
    } catch (err) {
      f.warn?.(`WARNING: cannot record serial ${serial} in ${file} (${(err as Error).message}): a later rollback to an older tree will not be noticed here`);
    }
  }
  return serial as number;
}
