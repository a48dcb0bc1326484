/**
 * install.sh for a published directory: the template beside this file with the signing key's
 * fingerprint (the pin), the key itself and the default source URL filled in.
 */
import { readFileSync } from 'node:fs';

import { sha256 } from '../../util/hash.ts';

/**
 * The installer's template: install.sh with its functions (install-fetch.sh, install-checks.sh) put in
 * place of its @FUNCTIONS@ line. `read` gives a part's text by file name (an earlier revision's for a
 * benchmark's A/B); a template of one file (before the split) has no such line and is taken as it is.
 */
export function assembleTemplate(read: (name: string) => string): string {
  const main = read('install.sh');
  if (!/^@FUNCTIONS@$/m.test(main)) return main;
  const parts = ['install-fetch.sh', 'install-checks.sh'].map((n) => read(n).trimEnd()).join('\n\n');
  return main.replace(/^@FUNCTIONS@$/m, () => parts);
}

const TEMPLATE = assembleTemplate((name) => readFileSync(new URL(`./${name}`, import.meta.url), 'utf8'));
/** Identifies the installer template, so a published directory knows when its install.sh is stale. */
export const INSTALL_SH_ID = sha256(TEMPLATE).slice(0, 12);

export interface InstallShInput {
  /** Primary key fingerprint the index must be signed by; undefined = published unsigned. */
  fingerprint?: string;
  /** The binary public key, embedded so the host needs no keyserver and no keyring of its own. */
  publicKey?: Uint8Array;
  /** Where the directory is served (--url), the default for --from. */
  url?: string;
  generator: string;
  /** Another install.sh template (a benchmark's A/B against an earlier one); the one beside this file by default. */
  template?: string;
}

export function renderInstallSh(i: InstallShInput): string {
  if (i.fingerprint !== undefined && !/^[0-9A-F]{40}$/.test(i.fingerprint)) throw new Error(`bad fingerprint ${i.fingerprint}`);
  if ((i.fingerprint === undefined) !== (i.publicKey === undefined)) throw new Error('fingerprint and public key go together');
  // The values land inside single quotes or a quoted heredoc: refuse anything that could end them.
  // No quotes, spaces, '$', '`', ';', '&', '(', ')', '!', '*' or brackets either: hosts paste it into shells.
  if (i.url !== undefined && !/^https?:\/\/[A-Za-z0-9][A-Za-z0-9._~:/?#@%+=,-]*$/.test(i.url))
    throw new Error(`--url must be a plain http(s) URL (letters, digits and . _ ~ : / ? # @ % + = , - only): ${JSON.stringify(i.url)}`);
  if (/['\n]/.test(i.generator)) throw new Error('bad generator text');
  const key = i.publicKey ? (Buffer.from(i.publicKey).toString('base64').match(/.{1,76}/g) ?? []).join('\n') : '';
  return (i.template ?? TEMPLATE).replace('@GENERATOR@', i.generator)
    .replace('@FINGERPRINT@', i.fingerprint ?? '')
    .replace('@DEFAULT_FROM@', i.url ?? '')
    .replace('@KEY_PRINTF@', () => keyPrintf(i.publicKey))
    // a template from before printf (a benchmark's A/B): the key as base64 in a heredoc
    .replace('@KEY_BASE64@', key);
}

/** The key as `printf` lines of octal escapes (POSIX; builtin in dash, bash and busybox ash), 32 bytes a line. */
function keyPrintf(key: Uint8Array | undefined): string {
  const out: string[] = [];
  for (let i = 0; key && i < key.length; i += 32)
    out.push(`  printf '${[...key.subarray(i, i + 32)].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('')}'`);
  return out.join('\n');
}
