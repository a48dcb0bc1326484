import { UsageError } from './context.ts';
import { loadSigner, type Signer } from '../builder/signer.ts';

/** `--sign-key KEY --sign-cert CERT`, shared by build and matrix. */
export const signOptions = {
  'sign-key': { type: 'string' },
  'sign-cert': { type: 'string' },
} as const;

export const signUsage = `  --sign-key KEY    sign the verified module with this PEM private key (read-only in the
                    signing container, never copied); needs --sign-cert; see docs/signing.md
  --sign-cert CERT  the key's X.509 certificate (PEM or DER), the one enrolled on the hosts`;

/** Both or neither; a key that is unreadable or not the certificate's is a usage error (exit 2). */
export async function signerFrom(values: { 'sign-key'?: string; 'sign-cert'?: string }): Promise<Signer | undefined> {
  const key = values['sign-key'];
  const cert = values['sign-cert'];
  if (!key && !cert) return undefined;
  if (!key || !cert) throw new UsageError('--sign-key and --sign-cert go together (the key signs, the certificate is what hosts enrol)');
  return await loadSigner(key, cert);
}

/** `--gpg-key KEY | --unsigned`, `--valid-for DAYS`, `--prune-foreign`: publish's signing and trust, every target. */
export const publishKeyOptions = {
  'gpg-key': { type: 'string' },
  unsigned: { type: 'boolean', default: false },
  'valid-for': { type: 'string' },
  'prune-foreign': { type: 'boolean', default: false },
} as const;

export const publishKeyUsage = `  --gpg-key K    sign with this gpg secret key (GNUPGHOME is honoured); a key that is empty,
                 unknown, expired or cannot sign is a usage error (exit 2)
  --unsigned     publish without a signature (needed when there is no --gpg-key): hosts must then
                 pin the index by sha256 or opt out loudly
  --valid-for D  a signed index is good for D days (default 30); hosts refuse it after that
  --prune-foreign  move what nbdforge did not write (files, entries, symlinks) aside into the
                 target's .nbdforge-foreign/ instead of refusing (exit 3); it is never signed`;

export const DEFAULT_VALID_DAYS = 30;

/**
 * A key is chosen, or the user said --unsigned: never both, never neither. The key must name one
 * usable secret key now, before any target is looked at (exit 2 otherwise).
 */
export async function publishKeyFrom(
  values: { 'gpg-key'?: string; unsigned?: boolean; 'valid-for'?: string; 'prune-foreign'?: boolean },
  env: NodeJS.ProcessEnv,
): Promise<{ gpgKey?: string; unsigned: boolean; validForDays: number; pruneForeign: boolean }> {
  const id = values['gpg-key'];
  const unsigned = values.unsigned === true;
  const days = values['valid-for'] === undefined ? DEFAULT_VALID_DAYS : Number(values['valid-for']);
  if (!/^[0-9]+$/.test(values['valid-for'] ?? '30') || !Number.isSafeInteger(days) || days < 1 || days > 3660)
    throw new UsageError(`--valid-for takes a whole number of days from 1 to 3660, not ${JSON.stringify(values['valid-for'])}`);
  if (id !== undefined && unsigned) throw new UsageError('--gpg-key and --unsigned exclude each other');
  if (id === undefined && !unsigned) throw new UsageError('publishing needs a signing key: pass --gpg-key KEYID, or --unsigned to publish without a signature');
  if (id !== undefined) {
    if (id.trim() === '') throw new UsageError('--gpg-key is empty: give a key id, fingerprint or e-mail (or --unsigned)');
    // loaded here, not at start-up: gpg's module brings zx, which a build does not need
    const { createGpg } = await import('../doors/gpg.ts');
    await createGpg(env).findKey(id); // a GpgKeyError: exit 2
  }
  return { gpgKey: id, unsigned, validForDays: days, pruneForeign: values['prune-foreign'] === true };
}
