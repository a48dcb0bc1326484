/**
 * The one door to gpg for publishing: find the --gpg-key secret key, export its public half, make
 * detached and clear-signed signatures, and hand rpmsign the same key. The user's GNUPGHOME (from
 * the env read at the edge) is used; nothing here imports or changes keys.
 */
import { $ } from 'zx';
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
  const q = $({ quiet: true, env: { ...env, LC_ALL: 'C' } });
  const home = env.GNUPGHOME;
  const homeArgs = home ? ['--homedir', home] : [];
  const where = home ? `GNUPGHOME=${home}` : 'the default GNUPGHOME (~/.gnupg)';
  // SHA-256 at least: apt refuses SHA-1 signatures and rpm 4.11 verifies SHA-256.
  const signArgs = (k: SigningKey) => ['--batch', '--yes', ...homeArgs, '--digest-algo', 'SHA256', '--local-user', k.fingerprint];

  return {
    async findKey(id) {
      if (!/^[0-9A-Za-z@._<> +-]{1,200}$/.test(id) || id.startsWith('-')) throw new GpgKeyError(`--gpg-key ${JSON.stringify(id)} is not a key id, fingerprint or e-mail`);
      const r = await q`gpg --batch ${homeArgs} --with-colons --fixed-list-mode --list-secret-keys -- ${id}`.nothrow();
      if (r.exitCode !== 0) {
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
      const r = await q`gpg --batch ${homeArgs} ${armor ? ['--armor'] : []} --export -- ${key.fingerprint}`;
      if (r.stdout.length === 0) throw new GpgKeyError(`gpg exported nothing for ${key.fingerprint}`);
      return armor ? Buffer.from(r.stdout) : Buffer.from(r.buffer());
    },

    async detachSign(key, file, out, armor = true) {
      await q`gpg ${signArgs(key)} ${armor ? ['--armor'] : []} --detach-sign --output ${out} -- ${file}`;
    },

    async clearSign(key, file, out) {
      await q`gpg ${signArgs(key)} --clearsign --output ${out} -- ${file}`;
    },

    async rpmSign(key, files) {
      if (files.length === 0) return;
      const defs = ['--define', `_gpg_name ${key.fingerprint}`, '--define', '_gpg_digest_algo sha256', '--define', '_gpg_sign_cmd_extra_args --batch'];
      if (home) defs.push('--define', `_gpg_path ${home}`);
      // rpm execs %__gpg by path, and Debian's rpm names one that may be absent (/usr/bin/gpg2).
      const gpgPath = (await q`command -v gpg`.nothrow()).stdout.trim();
      if (gpgPath.startsWith('/')) defs.push('--define', `__gpg ${gpgPath}`);
      await q`rpmsign --addsign ${defs} ${files} < /dev/null`;
    },
  };
}
