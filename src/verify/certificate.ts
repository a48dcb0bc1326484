import { X509Certificate } from 'node:crypto';
import { children, contents, ctx, DerError, expect, oid, readTlv, TAG, whole } from './der.ts';
import { NbdforgeError } from '../errors.ts';

/** What a module signature is checked against, read once from the signer's X.509 certificate. */
export interface SigningCert {
  x509: X509Certificate;
  der: Buffer;
  subject: string;
  /** sha256 of the DER certificate, lower-case hex without colons (what `openssl x509 -fingerprint -sha256` shows). */
  fingerprint: string;
  /** DER of the issuer Name and the serialNumber INTEGER contents: a PKCS#7 issuerAndSerialNumber. */
  issuerDer: Buffer;
  serial: Buffer;
  /** subjectKeyIdentifier extension, if any: what the old sign-file writes as the key id. */
  subjectKeyId?: Buffer;
}

export class CertificateError extends NbdforgeError {
  override name = 'CertificateError';
  override readonly exitCode = 2;
}

const MAX_CERT = 64 * 1024;

/** Read a PEM or DER certificate (bytes from a file the user named: untrusted, so bounded and checked). */
export function readSigningCert(bytes: Uint8Array, where: string): SigningCert {
  if (bytes.length > MAX_CERT) throw new CertificateError(`${where}: ${bytes.length} bytes is too large for a certificate`);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(Buffer.from(bytes));
  } catch (err) {
    throw new CertificateError(`${where}: not an X.509 certificate in PEM or DER (${(err as Error).message}); make one with openssl req -x509 (see docs/signing.md)`);
  }
  const der = x509.raw;
  try {
    const cert = expect(readTlv(der, 0), TAG.SEQUENCE, 'Certificate');
    const tbs = children(expect(children(cert)[0], TAG.SEQUENCE, 'tbsCertificate'));
    let i = tbs[0]?.tag === ctx(0) ? 1 : 0; // [0] version is optional
    const serial = Buffer.from(contents(expect(tbs[i++], TAG.INTEGER, 'serialNumber')));
    i++; // signature algorithm
    const issuerDer = Buffer.from(whole(expect(tbs[i++], TAG.SEQUENCE, 'issuer')));
    let subjectKeyId: Buffer | undefined;
    const exts = tbs.find((t) => t.tag === ctx(3));
    if (exts) {
      for (const ext of children(expect(children(exts)[0], TAG.SEQUENCE, 'extensions'))) {
        const parts = children(ext);
        if (oid(parts[0]) !== '2.5.29.14') continue;
        const value = expect(parts[parts.length - 1], TAG.OCTET_STRING, 'extnValue');
        subjectKeyId = Buffer.from(contents(expect(readTlv(value.buf, value.body, value.end), TAG.OCTET_STRING, 'subjectKeyIdentifier')));
      }
    }
    return {
      x509,
      der,
      subject: x509.subject.split('\n').join(', '),
      fingerprint: x509.fingerprint256.replace(/:/g, '').toLowerCase(),
      issuerDer,
      serial,
      subjectKeyId,
    };
  } catch (err) {
    if (err instanceof DerError) throw new CertificateError(`${where}: certificate structure: ${err.message}`);
    throw err;
  }
}
