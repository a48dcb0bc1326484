import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runTool, ToolError, type ToolResult } from './exec.ts';
import { NbdforgeError } from '../errors.ts';

export class SignatureError extends NbdforgeError {
  override name = 'SignatureError';
}

/** A tool that cannot run is a SignatureError here: nothing unverified gets through. */
async function run(cmd: string, args: string[]): Promise<ToolResult> {
  try {
    return await runTool(cmd, args);
  } catch (err) {
    if (err instanceof ToolError) throw new SignatureError(err.message, { cause: err });
    throw err;
  }
}

export function normalizeFingerprint(fpr: string): string {
  const f = fpr.replace(/\s+/g, '').toUpperCase();
  if (!/^[0-9A-F]{40}$/.test(f)) throw new SignatureError(`not an OpenPGP v4 fingerprint: ${JSON.stringify(fpr)}`);
  return f;
}

/** Primary-key fingerprints in a key file (armored or binary), read without touching any keyring. */
export async function keyFileFingerprints(keyFile: string, homedir: string): Promise<string[]> {
  const r = await run('gpg', ['--batch', '--no-options', '--homedir', homedir, '--with-colons', '--show-keys', keyFile]);
  if (r.code !== 0) throw new SignatureError(`${keyFile}: not a readable OpenPGP key file: ${r.stderr.trim()}`);
  const out: string[] = [];
  let wantFpr = false;
  for (const line of r.stdout.split('\n')) {
    const f = line.split(':');
    if (f[0] === 'pub') wantFpr = true;
    else if (f[0] === 'fpr' && wantFpr) {
      out.push(f[9].toUpperCase());
      wantFpr = false;
    } else if (f[0] === 'sub') wantFpr = false;
  }
  return out;
}

export interface VerifyOptions {
  data: Uint8Array;
  signature: Uint8Array;
  /** The public key file (armored or binary), e.g. kernels/el7/RPM-GPG-KEY-CentOS-7. */
  keyFile: string;
  /** The only primary key whose signature is accepted. */
  fingerprint: string;
  /** What is being verified, for messages (a URL). */
  what: string;
}

/**
 * Verify a detached signature with gpgv against a keyring made from `keyFile` alone, in a private
 * temporary home (the user's ~/.gnupg is never read or written). Two checks, both required: the key
 * file holds exactly the configured key, and gpgv reports VALIDSIG by that key.
 * Returns the primary fingerprint that signed.
 */
export async function verifyDetached(o: VerifyOptions): Promise<string> {
  const want = normalizeFingerprint(o.fingerprint);
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-gpg-'));
  try {
    await fs.chmod(home, 0o700);
    const fprs = await keyFileFingerprints(o.keyFile, home);
    if (fprs.length !== 1 || fprs[0] !== want) {
      throw new SignatureError(`${o.keyFile}: holds key ${fprs.join(', ') || '(none)'}, expected exactly ${want}; refusing to verify ${o.what}`);
    }
    const keyring = path.join(home, 'keyring.gpg');
    const raw = await fs.readFile(o.keyFile);
    if (raw.subarray(0, 64).toString('latin1').includes('-----BEGIN PGP')) {
      const d = await run('gpg', ['--batch', '--no-options', '--homedir', home, '--yes', '--output', keyring, '--dearmor', o.keyFile]);
      if (d.code !== 0) throw new SignatureError(`${o.keyFile}: cannot dearmor: ${d.stderr.trim()}`);
    } else {
      await fs.writeFile(keyring, raw);
    }
    const dataFile = path.join(home, 'data');
    const sigFile = path.join(home, 'data.sig');
    await fs.writeFile(dataFile, o.data);
    await fs.writeFile(sigFile, o.signature);
    const v = await run('gpgv', ['--homedir', home, '--status-fd', '1', '--keyring', keyring, sigFile, dataFile]);
    const status = v.stdout.split('\n').filter((l) => l.startsWith('[GNUPG:] '));
    const bad = status.find((l) => /^\[GNUPG:\] (BADSIG|ERRSIG|EXPSIG|EXPKEYSIG|REVKEYSIG|NO_PUBKEY|NODATA)\b/.test(l));
    const valid = status.map((l) => l.split(' ')).find((f) => f[1] === 'VALIDSIG');
    const signer = valid?.[valid.length - 1]?.toUpperCase();
    if (v.code !== 0 || bad || !signer) {
      const why = bad ? bad.replace('[GNUPG:] ', '') : v.stderr.trim().split('\n').pop();
      throw new SignatureError(`${o.what}: signature refused (${why || `gpgv exit ${v.code}`})`);
    }
    if (signer !== want) throw new SignatureError(`${o.what}: signed by ${signer}, expected ${want}; refused`);
    return signer;
  } finally {
    await fs.rm(home, { recursive: true, force: true });
  }
}
