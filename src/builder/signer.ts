import fs from 'node:fs/promises';
import path from 'node:path';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readSigningCert, type SigningCert } from '../verify/certificate.ts';
import { NbdforgeError } from '../errors.ts';

/**
 * The key and certificate `--sign-key/--sign-cert` name, checked once at the edge. The private key
 * is read here only to prove it belongs to the certificate; it is never written anywhere: the
 * signing container gets the user's own file through a read-only bind.
 */
export interface Signer {
  /** Absolute path of the private key file (PEM), as given by the user. */
  keyPath: string;
  cert: SigningCert;
}

export class SignerError extends NbdforgeError {
  override name = 'SignerError';
  override readonly exitCode = 2;
}

const MAX_KEY = 64 * 1024;

export async function loadSigner(keyFile: string, certFile: string): Promise<Signer> {
  const keyPath = path.resolve(keyFile);
  const certPath = path.resolve(certFile);
  // The key reaches the container as a Docker bind "host:container:ro", which cannot carry a colon.
  if (keyPath.includes(':')) throw new SignerError(`signing key path ${keyPath} contains ':', which a container bind cannot carry; move or link the key elsewhere`);
  const read = async (p: string, what: string) => {
    const st = await fs.stat(p).catch(() => undefined);
    if (!st?.isFile()) throw new SignerError(`${what} ${p} is not a readable file (make a key pair as docs/signing.md shows)`);
    if (st.size > MAX_KEY) throw new SignerError(`${what} ${p} is ${st.size} bytes: too large for a key or certificate`);
    return fs.readFile(p).catch((err: Error) => {
      throw new SignerError(`cannot read ${what} ${p}: ${err.message}`);
    });
  };
  // A bad certificate is a CertificateError naming the file.
  const cert = readSigningCert(await read(certPath, 'signing certificate'), certPath);
  let keyPublic: string;
  try {
    const key = createPrivateKey(await read(keyPath, 'signing key'));
    keyPublic = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
  } catch (err) {
    if (err instanceof SignerError) throw err;
    throw new SignerError(
      `${keyPath}: not an unencrypted PEM private key (${(err as Error).message.split('\n')[0]}); sign-file reads the key without a passphrase here`,
    );
  }
  if (keyPublic !== cert.x509.publicKey.export({ type: 'spki', format: 'pem' }).toString())
    throw new SignerError(`${keyPath} is not the private key of ${certPath} (${cert.subject}); pass the pair made together`);
  const algo = cert.x509.publicKey.asymmetricKeyType;
  if (algo !== 'rsa' && algo !== 'ec') throw new SignerError(`${certPath}: ${algo} keys cannot sign kernel modules; use RSA (docs/signing.md)`);
  return { keyPath, cert };
}

/** The digest the kernel was configured to sign with (CONFIG_MODULE_SIG_HASH), sha256 when the config names none. */
export function signHashFromConfig(config: string): string {
  const m = /^CONFIG_MODULE_SIG_HASH="([a-z0-9]+)"$/m.exec(config);
  const hash = m?.[1] ?? 'sha256';
  if (!/^sha(1|224|256|384|512)$/.test(hash)) throw new SignerError(`kernel config asks for module signature hash "${hash}", which nbdforge does not sign with`);
  return hash;
}
