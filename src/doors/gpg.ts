/**
 * The one door to gpg and gpgv, through the process door (doors/exec.ts). Signing (publish): find
 * the --gpg-key secret key, export its public half, make detached and clear-signed signatures, hand
 * rpmsign the same key; the user's GNUPGHOME (from the env read at the edge) is used, and nothing
 * here imports or changes keys. Verifying (kernels sync, dir indexes, prepare-host, pull): gpgv
 * against a keyring of one pinned key, in a private temporary home.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run, runTool, ToolError, SLOW_TOOL_MS, type ToolResult } from './exec.ts';

export class GpgKeyError extends Error {
  override name = 'GpgKeyError';
}

/** gpg's algorithm ids (RFC 4880 9.1 / 6637 / 8032) for what old verifiers understand. */
const ALGOS: Record<string, string> = { '1': 'RSA', '2': 'RSA', '3': 'RSA', '17': 'DSA', '16': 'Elgamal', '18': 'ECDH', '19': 'ECDSA', '22': 'EdDSA' };

export interface SigningKey {
  /** What the user asked for (--gpg-key). */
  id: string;
  /** Full fingerprint of the primary key: what every command below is given. */
  fingerprint: string;
  uid: string;
  /** Algorithms of the primary key and of its usable signing subkeys (e.g. ["RSA"]). */
  signingAlgorithms: string[];
}

export interface Gpg {
  /** Find exactly one usable secret key for `id`, or throw GpgKeyError naming the fix. */
  findKey(id: string): Promise<SigningKey>;
  exportPublic(key: SigningKey, armor: boolean): Promise<Buffer>;
  /** Armored detached signature of `file` written to `out`. */
  detachSign(key: SigningKey, file: string, out: string, armor?: boolean): Promise<void>;
  /** Clear-signed copy of `file` written to `out` (apt's InRelease). */
  clearSign(key: SigningKey, file: string, out: string): Promise<void>;
  /** Add an RPM header signature to each file, in place. */
  rpmSign(key: SigningKey, files: string[]): Promise<void>;
}

export function createGpg(env: NodeJS.ProcessEnv): Gpg {
  const o = { env: { ...env, LC_ALL: 'C' } };
  const home = env.GNUPGHOME;
  const homeArgs = home ? ['--homedir', home] : [];
  const where = home ? `GNUPGHOME=${home}` : 'the default GNUPGHOME (~/.gnupg)';
  // SHA-256 at least: apt refuses SHA-1 signatures and rpm 4.11 verifies SHA-256.
  const signArgs = (k: SigningKey) => ['--batch', '--yes', ...homeArgs, '--digest-algo', 'SHA256', '--local-user', k.fingerprint];

  return {
    async findKey(id) {
      if (!/^[0-9A-Za-z@._<> +-]{1,200}$/.test(id) || id.startsWith('-')) throw new GpgKeyError(`--gpg-key ${JSON.stringify(id)} is not a key id, fingerprint or e-mail`);
      // gpg missing answers as a failed listing does (the target's tool check names the package first)
      const r = await runTool('gpg', ['--batch', ...homeArgs, '--with-colons', '--fixed-list-mode', '--list-secret-keys', '--', id], o).catch((err: unknown) => {
        if (err instanceof ToolError) return { code: 127, stdout: '' };
        throw err;
      });
      if (r.code !== 0) {
        throw new GpgKeyError(`gpg key ${id}: no secret key in ${where}; list the keys with \`gpg --list-secret-keys\` (or set GNUPGHOME) and pass one with --gpg-key`);
      }
      const keys: Array<SigningKey & { ok: boolean; why: string }> = [];
      let cur: (SigningKey & { ok: boolean; why: string }) | undefined;
      for (const line of r.stdout.split('\n')) {
        const f = line.split(':');
        if (f[0] === 'sec') {
          // Field 2 is validity: e expired, r revoked, d disabled; field 12 the usable capabilities.
          const bad = ({ e: 'expired', r: 'revoked', d: 'disabled', i: 'invalid' } as Record<string, string>)[f[1]];
          cur = { id, fingerprint: '', uid: '', signingAlgorithms: [ALGOS[f[3]] ?? `algo ${f[3]}`], ok: !bad && f[11].includes('S'), why: bad ?? 'cannot sign' };
          keys.push(cur);
        } else if (f[0] === 'ssb' && cur && f[11].includes('s') && !['e', 'r', 'd', 'i'].includes(f[1])) {
          cur.signingAlgorithms.push(ALGOS[f[3]] ?? `algo ${f[3]}`);
        } else if (f[0] === 'fpr' && cur && !cur.fingerprint) {
          cur.fingerprint = f[9];
        } else if (f[0] === 'uid' && cur && !cur.uid) {
          cur.uid = f[9];
        }
      }
      if (keys.length === 0) throw new GpgKeyError(`gpg key ${id}: no secret key in ${where}`);
      if (keys.length > 1) throw new GpgKeyError(`gpg key ${id} matches ${keys.length} secret keys (${keys.map((k) => k.fingerprint).join(', ')}): pass one fingerprint`);
      const k = keys[0];
      if (!k.ok) throw new GpgKeyError(`gpg key ${id} (${k.fingerprint}) ${k.why}: choose another with --gpg-key`);
      return { id: k.id, fingerprint: k.fingerprint, uid: k.uid, signingAlgorithms: [...new Set(k.signingAlgorithms)] };
    },

    async exportPublic(key, armor) {
      const r = await run('gpg', ['--batch', ...homeArgs, ...(armor ? ['--armor'] : []), '--export', '--', key.fingerprint], o);
      if (r.stdout.length === 0) throw new GpgKeyError(`gpg exported nothing for ${key.fingerprint}`);
      return armor ? Buffer.from(r.stdout) : r.bytes;
    },

    async detachSign(key, file, out, armor = true) {
      await run('gpg', [...signArgs(key), ...(armor ? ['--armor'] : []), '--detach-sign', '--output', out, '--', file], o);
    },

    async clearSign(key, file, out) {
      await run('gpg', [...signArgs(key), '--clearsign', '--output', out, '--', file], o);
    },

    async rpmSign(key, files) {
      if (files.length === 0) return;
      const defs = ['--define', `_gpg_name ${key.fingerprint}`, '--define', '_gpg_digest_algo sha256', '--define', '_gpg_sign_cmd_extra_args --batch'];
      if (home) defs.push('--define', `_gpg_path ${home}`);
      // rpm execs %__gpg by path, and Debian's rpm names one that may be absent (/usr/bin/gpg2).
      const gpgPath = (await runTool('sh', ['-c', 'command -v gpg'], o)).stdout.trim();
      if (gpgPath.startsWith('/')) defs.push('--define', `__gpg ${gpgPath}`);
      await run('rpmsign', ['--addsign', ...defs, ...files], { ...o, timeoutMs: SLOW_TOOL_MS }); // stdin is /dev/null
    },
  };
}

/**
 * The dir and oci targets' signing (publish/dir/gpg.ts makes their refusals): a binary detached
 * signature by a primary key that can sign, and its minimal public key. gpg that cannot run, or a
 * key that cannot be used, is a GpgKeyError.
 */
async function gpgBin(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  try {
    const r = await runTool('gpg', ['--batch', '--no-tty', ...args], { env, maxBuffer: 64 * 1024 * 1024 });
    return { code: r.code, stdout: r.bytes, stderr: r.stderr };
  } catch (err) {
    const why = ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
    throw new GpgKeyError(`gpg could not run (${why}); install gnupg to sign with --gpg-key`, { cause: err });
  }
}

/** The primary fingerprint of a secret key that can sign, or a GpgKeyError naming the keyring searched. */
export async function signingFingerprint(keyId: string, env: NodeJS.ProcessEnv): Promise<string> {
  const home = env.GNUPGHOME ?? '~/.gnupg';
  const r = await gpgBin(['--with-colons', '--list-secret-keys', '--', keyId], env);
  const lines = r.stdout.toString('utf8').split('\n').map((l) => l.split(':'));
  const secs = lines.filter((f) => f[0] === 'sec');
  if (r.code !== 0 || secs.length === 0) throw new GpgKeyError(`gpg key "${keyId}" not found among the secret keys in ${home}; list them with: gpg --list-secret-keys`);
  if (secs.length > 1) throw new GpgKeyError(`gpg key "${keyId}" matches ${secs.length} secret keys in ${home}; give its full fingerprint`);
  const fpr = lines.find((f) => f[0] === 'fpr')?.[9];
  if (!fpr || !/^[0-9A-F]{40}$/i.test(fpr)) throw new GpgKeyError(`gpg key "${keyId}": no fingerprint in gpg's answer`);
  // field 12 holds the capabilities of the whole key: an upper-case S means some part of it can sign
  if (!(secs[0][11] ?? '').includes('S')) throw new GpgKeyError(`gpg key "${keyId}" (${fpr}) cannot sign`);
  return fpr.toUpperCase();
}

/** A binary detached signature of `file`, written to `out`. */
export async function signDetached(fingerprint: string, file: string, out: string, env: NodeJS.ProcessEnv): Promise<void> {
  const r = await gpgBin(['--yes', '--local-user', fingerprint, '--output', out, '--detach-sign', file], env);
  if (r.code !== 0) throw new Error(`gpg --detach-sign ${file} with ${fingerprint} failed: ${r.stderr.trim()}`);
}

/** The public key (binary, minimal) the host verifies with. */
export async function exportPublicKey(fingerprint: string, env: NodeJS.ProcessEnv): Promise<Buffer> {
  const r = await gpgBin(['--export-options', 'export-minimal', '--export', fingerprint], env);
  if (r.code !== 0 || r.stdout.length === 0) throw new Error(`gpg --export ${fingerprint} gave no key: ${r.stderr.trim()}`);
  return r.stdout;
}

// Verifying: gpgv, a keyring of the one pinned key, a private home (the user's ~/.gnupg is never read).

export class SignatureError extends Error {
  override name = 'SignatureError';
}

/** A tool that cannot run is a SignatureError here: nothing unverified gets through. */
async function check(cmd: string, args: string[]): Promise<ToolResult> {
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
  const r = await check('gpg', ['--batch', '--no-options', '--homedir', homedir, '--with-colons', '--show-keys', keyFile]);
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
      const d = await check('gpg', ['--batch', '--no-options', '--homedir', home, '--yes', '--output', keyring, '--dearmor', o.keyFile]);
      if (d.code !== 0) throw new SignatureError(`${o.keyFile}: cannot dearmor: ${d.stderr.trim()}`);
    } else {
      await fs.writeFile(keyring, raw);
    }
    const dataFile = path.join(home, 'data');
    const sigFile = path.join(home, 'data.sig');
    await fs.writeFile(dataFile, o.data);
    await fs.writeFile(sigFile, o.signature);
    const v = await check('gpgv', ['--homedir', home, '--status-fd', '1', '--keyring', keyring, sigFile, dataFile]);
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
