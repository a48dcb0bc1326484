import { UsageError } from './context.ts';
import { loadSigner, SignerError, type Signer } from '../build/signer.ts';
import { CertificateError } from '../verify/certificate.ts';

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
  try {
    return await loadSigner(key, cert);
  } catch (err) {
    if (err instanceof SignerError || err instanceof CertificateError) throw new UsageError(err.message);
    throw err;
  }
}
