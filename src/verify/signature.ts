import { createHash, verify as cryptoVerify } from 'node:crypto';
import type { Check } from './check.ts';
import type { SigningCert } from './certificate.ts';
import { children, contents, ctx, DerError, expect, hex, oid, readTlv, TAG, whole } from './der.ts';
import { LEGACY_HASHES, PKEY_ID, SignatureFormatError, splitSignature, type AppendedSignature } from './module-signature.ts';
import { NbdforgeError } from '../errors.ts';

const HASH_OIDS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
  '2.16.840.1.101.3.4.2.4': 'sha224',
};
const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';

/** What a valid signature says about itself. */
export interface SignatureInfo {
  format: 'pkcs7' | 'x509';
  /** Digest algorithm, e.g. sha256. */
  hash: string;
  /** Public-key algorithm of the signer's key, e.g. rsa. */
  keyAlgorithm: string;
  /** Bytes before the signature: the module as it was verified before signing. */
  content: Uint8Array;
}

export class SignatureError extends NbdforgeError {
  override name = 'SignatureError';
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

/** PKCS#7 SignedData with one SignerInfo naming `cert` (by issuer+serial or key id), checked over the module. */
function verifyPkcs7(sig: AppendedSignature, cert: SigningCert): string {
  const info = children(expect(readTlv(sig.data, 0), TAG.SEQUENCE, 'ContentInfo'));
  if (oid(info[0]) !== OID_SIGNED_DATA) throw new SignatureError(`PKCS#7 content type is ${oid(info[0])}, not signedData`);
  const sd = children(expect(children(expect(info[1], ctx(0), 'SignedData wrapper'))[0], TAG.SEQUENCE, 'SignedData'));
  // version, digestAlgorithms, contentInfo (detached: no content), [0] certificates, [1] crls, signerInfos
  const signerInfos = children(expect(sd[sd.length - 1], TAG.SET, 'signerInfos'));
  if (signerInfos.length !== 1) throw new SignatureError(`PKCS#7 has ${signerInfos.length} signers; sign-file writes exactly one`);
  const si = children(expect(signerInfos[0], TAG.SEQUENCE, 'SignerInfo'));
  let i = 1;
  const sid = si[i++];
  if (sid.tag === TAG.SEQUENCE) {
    const [issuer, serial] = children(sid);
    if (!sameBytes(whole(issuer), cert.issuerDer) || !sameBytes(contents(expect(serial, TAG.INTEGER, 'serialNumber')), cert.serial))
      throw new SignatureError(`signed by issuer+serial ${hex(contents(serial))}, not by the certificate ${cert.subject} (serial ${hex(cert.serial)})`);
  } else if (sid.tag === ctx(0, false)) {
    if (!cert.subjectKeyId || !sameBytes(contents(sid), cert.subjectKeyId))
      throw new SignatureError(`signed by key id ${hex(contents(sid))}, not by the certificate ${cert.subject}`);
  } else throw new SignatureError(`SignerInfo identifies its signer with tag 0x${sid.tag.toString(16)}`);
  const hash = HASH_OIDS[oid(children(expect(si[i++], TAG.SEQUENCE, 'digestAlgorithm'))[0])];
  if (!hash) throw new SignatureError(`unsupported PKCS#7 digest algorithm ${oid(children(si[i - 1])[0])}`);
  let signed: Uint8Array = sig.content;
  if (si[i].tag === ctx(0)) {
    // Signed attributes: the signature covers them (re-tagged as a SET), and they carry the digest.
    const attrs = si[i++];
    const md = children(attrs).find((a) => oid(children(a)[0]) === OID_MESSAGE_DIGEST);
    if (!md) throw new SignatureError('PKCS#7 signed attributes carry no messageDigest');
    const want = contents(expect(children(children(md)[1])[0], TAG.OCTET_STRING, 'messageDigest'));
    if (!sameBytes(want, createHash(hash).update(sig.content).digest())) throw new SignatureError('messageDigest does not match the module bytes');
    signed = Buffer.concat([Buffer.from([TAG.SET]), whole(attrs).subarray(1)]);
  }
  i++; // signatureAlgorithm: the key's type decides; node reads it from the certificate
  const value = contents(expect(si[i], TAG.OCTET_STRING, 'signature'));
  if (!cryptoVerify(hash, signed, cert.x509.publicKey, value)) throw new SignatureError(`the ${hash} signature does not verify with ${cert.subject}'s public key`);
  return hash;
}

/** The 3.x format: PKCS#1 v1.5 RSA over the module, as an MPI, with the key id of the certificate. */
function verifyX509(sig: AppendedSignature, cert: SigningCert): string {
  if (sig.algo !== 1) throw new SignatureError(`X.509-format signature with public-key algorithm ${sig.algo}, not RSA (1)`);
  const hash = LEGACY_HASHES[sig.hash];
  if (!hash || hash === 'md4' || hash === 'rmd160') throw new SignatureError(`X.509-format signature with unsupported hash ${sig.hash}`);
  if (cert.subjectKeyId && !sameBytes(sig.keyId, cert.subjectKeyId))
    throw new SignatureError(`signed by key id ${hex(sig.keyId)}, the certificate ${cert.subject} has ${hex(cert.subjectKeyId)}`);
  const bits = (sig.data[0] << 8) | sig.data[1];
  const value = sig.data.subarray(2);
  if (sig.data.length < 3 || Math.ceil(bits / 8) !== value.length) throw new SignatureError('X.509-format signature MPI length does not match its bit count');
  if (!cryptoVerify(hash, sig.content, cert.x509.publicKey, value)) throw new SignatureError(`the ${hash} signature does not verify with ${cert.subject}'s public key`);
  return hash;
}

/** Verify a signed module against the signer's certificate; throws SignatureError saying what is wrong. */
export function verifyModuleSignature(ko: Uint8Array, cert: SigningCert, where = 'module'): SignatureInfo {
  try {
    const sig = splitSignature(ko, where);
    if (!sig) throw new SignatureError(`${where} carries no appended signature`);
    const hash = sig.idType === PKEY_ID.PKCS7 ? verifyPkcs7(sig, cert) : verifyX509(sig, cert);
    return { format: sig.idType === PKEY_ID.PKCS7 ? 'pkcs7' : 'x509', hash, keyAlgorithm: cert.x509.publicKey.asymmetricKeyType ?? 'unknown', content: sig.content };
  } catch (err) {
    if (err instanceof DerError || err instanceof SignatureFormatError) throw new SignatureError(`${where}: malformed signature: ${err.message}`);
    if (err instanceof SignatureError && !err.message.startsWith(where)) throw new SignatureError(`${where}: ${err.message}`);
    throw err;
  }
}

/**
 * The manifest check: the signed module verifies with the certificate, and what it signs is exactly
 * the unsigned module that passed the other checks.
 */
export function checkSignature(signed: Uint8Array, unsigned: Uint8Array, cert: SigningCert): Check {
  const name = 'signature';
  try {
    const s = verifyModuleSignature(signed, cert);
    if (!sameBytes(s.content, unsigned)) return { name, ok: false, detail: 'the signed bytes differ from the verified unsigned module' };
    return { name, ok: true, detail: `${s.format === 'pkcs7' ? 'PKCS#7' : 'X.509-format'} ${s.hash}/${s.keyAlgorithm} signature verifies with ${cert.subject} (sha256 ${cert.fingerprint}) over the verified module` };
  } catch (err) {
    if (err instanceof SignatureError) return { name, ok: false, detail: err.message };
    throw err;
  }
}
