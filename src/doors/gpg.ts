/**
 * The one door to gpg for publishing: find the --gpg-key secret key, export its public half, make
 * detached and clear-signed signatures, and hand rpmsign the same key. The user's GNUPGHOME (from
 * the env read at the edge) is used; nothing here imports or changes keys.
 * Also the door to gpgv (gpg-verify.ts): kernels sync, dir indexes, prepare-host and pull verify there.
 */
import { run, runTool, ToolError, SLOW_TOOL_MS } from './exec.ts';
// the verifying half lives beside this file (gpg-verify.ts); callers import both from here
export { SignatureError, normalizeFingerprint, keyFileFingerprints, verifyDetached, type VerifyOptions } from './gpg-verify.ts';
import { NbdforgeError } from '../errors.ts';

export class GpgKeyError extends NbdforgeError {
  override name = 'GpgKeyError';
  override readonly exitCode = 2;
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

/** The dir and oci targets' signing (publish/dir/gpg.ts refuses with its GpgKeyErrors): binary, minimal key. */
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
