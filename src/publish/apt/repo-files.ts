/**
 * The flat apt repository's index files (pure): Release over Packages and Packages.gz, and the
 * deb822 sources file an admin drops into /etc/apt/sources.list.d/. The signing key is written
 * inline in Signed-By (apt >= 2.3: bookworm has 2.6), so the sources file carries its own trust
 * anchor and no keyring has to be fetched from the same place as the packages.
 */
import { pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';

export const SOURCES_FILE = 'nbdforge.sources';
export const KEY_FILE = 'nbdforge-archive-keyring.asc';

/** --valid-for's default: a signed Release older than this is refused by apt ("is expired"), so a replayed old tree stops working. */
export const DEFAULT_VALID_DAYS = 30;

const aptDate = (d: Date) => d.toUTCString().replace('GMT', 'UTC');

export function releaseFile(files: Array<{ name: string; data: Buffer }>, arch: string[], now: Date, validUntil?: Date): string {
  const sha = files.map((f) => ` ${createHash('sha256').update(f.data).digest('hex')} ${String(f.data.length).padStart(16)} ${f.name}`);
  return [
    'Origin: nbdforge',
    'Label: nbdforge',
    'Suite: nbdforge',
    'Codename: nbdforge',
    `Date: ${aptDate(now)}`,
    ...(validUntil ? [`Valid-Until: ${aptDate(validUntil)}`] : []),
    `Architectures: ${arch.join(' ') || 'amd64'}`,
    'Description: kernel modules built and verified by nbdforge, one package per kernel',
    'SHA256:',
    ...sha,
    '',
  ].join('\n');
}

/**
 * deb822 stanza; `armoredKey` (when signed) becomes an inline Signed-By. Unsigned, it says
 * `Trusted: yes` only when the publisher asked for an unsigned repository (--unsigned); otherwise
 * apt refuses the repository, which is the safe answer to a key that was forgotten.
 */
export function sourcesFile(dir: string, o: { signedBy?: { fingerprint: string; uid: string; armoredKey: string }; unsigned?: boolean } = {}): string {
  const { signedBy } = o;
  const uri = pathToFileURL(dir).href.replace(/\/?$/, '/');
  const lines = [
    '# nbdforge: one nbd-modules-<release> package per kernel; on a host: apt-get install nbd-modules-$(uname -r)',
    '# Serving this directory over HTTP(S)? Replace the file:// URI below with its URL.',
  ];
  if (signedBy) lines.push(`# Release signed by ${signedBy.uid} (${signedBy.fingerprint}); the key is inline below.`);
  else if (o.unsigned)
    lines.push(
      '# UNSIGNED (published with --unsigned): "Trusted: yes" below makes apt install from it without any signature check,',
      '# so whoever can change this directory, or the files on their way to a host, runs code as root on that host.',
    );
  else
    lines.push(
      '# UNSIGNED and not trusted: published without --gpg-key and without --unsigned, so apt refuses this repository.',
      '# Publish again with --gpg-key KEYID, or with --unsigned to accept the risk (anyone who can change it runs code as root).',
    );
  lines.push('Types: deb', `URIs: ${uri}`, 'Suites: ./');
  if (signedBy) {
    // deb822 continuation lines: one leading space; an empty line is written " .".
    const body = signedBy.armoredKey.trim().split('\n').map((l) => (l.trim() === '' ? ' .' : ` ${l}`));
    lines.push('Signed-By:', ...body);
  } else if (o.unsigned) {
    lines.push('Trusted: yes');
  }
  return lines.join('\n') + '\n';
}
