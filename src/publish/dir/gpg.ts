/**
 * The publisher's side of the dir target's signature: find the --gpg-key in the user's keyring
 * (GNUPGHOME from the environment read at the edge), sign index.json detached, export the public key.
 * The host's side is gpgv against that key pinned by fingerprint (install.sh, prepare-host --from).
 */
import { execFile } from 'node:child_process';
import { PublishRefusedError } from '../errors.ts';

interface Run {
  code: number;
  stdout: Buffer;
  stderr: string;
}

function gpg(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile('gpg', ['--batch', '--no-tty', ...args], { env, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      if (err && code === -1) reject(new PublishRefusedError(`gpg could not run (${err.message}); install gnupg to sign with --gpg-key`));
      else resolve({ code, stdout, stderr: stderr.toString('utf8') });
    });
  });
}

/** The primary fingerprint of a secret key that can sign, or a refusal naming the keyring searched. */
export async function signingFingerprint(keyId: string, env: NodeJS.ProcessEnv): Promise<string> {
  const home = env.GNUPGHOME ?? '~/.gnupg';
  const r = await gpg(['--with-colons', '--list-secret-keys', '--', keyId], env);
  const lines = r.stdout.toString('utf8').split('\n').map((l) => l.split(':'));
  const secs = lines.filter((f) => f[0] === 'sec');
  if (r.code !== 0 || secs.length === 0) throw new PublishRefusedError(`gpg key "${keyId}" not found among the secret keys in ${home}; list them with: gpg --list-secret-keys`);
  if (secs.length > 1) throw new PublishRefusedError(`gpg key "${keyId}" matches ${secs.length} secret keys in ${home}; give its full fingerprint`);
  const fpr = lines.find((f) => f[0] === 'fpr')?.[9];
  if (!fpr || !/^[0-9A-F]{40}$/i.test(fpr)) throw new PublishRefusedError(`gpg key "${keyId}": no fingerprint in gpg's answer`);
  // field 12 holds the capabilities of the whole key: an upper-case S means some part of it can sign
  if (!(secs[0][11] ?? '').includes('S')) throw new PublishRefusedError(`gpg key "${keyId}" (${fpr}) cannot sign`);
  return fpr.toUpperCase();
}

/** A binary detached signature of `file`, written to `out`. */
export async function signDetached(fingerprint: string, file: string, out: string, env: NodeJS.ProcessEnv): Promise<void> {
  const r = await gpg(['--yes', '--local-user', fingerprint, '--output', out, '--detach-sign', file], env);
  if (r.code !== 0) throw new Error(`gpg --detach-sign ${file} with ${fingerprint} failed: ${r.stderr.trim()}`);
}

/** The public key (binary, minimal) the host verifies with. */
export async function exportPublicKey(fingerprint: string, env: NodeJS.ProcessEnv): Promise<Buffer> {
  const r = await gpg(['--export-options', 'export-minimal', '--export', fingerprint], env);
  if (r.code !== 0 || r.stdout.length === 0) throw new Error(`gpg --export ${fingerprint} gave no key: ${r.stderr.trim()}`);
  return r.stdout;
}
