/**
 * The signature the kernel's scripts/sign-file appends to a module:
 *
 *   module bytes | signature data | struct module_signature (12 bytes) | "~Module signature appended~\n"
 *
 * struct module_signature { u8 algo, hash, id_type, signer_len, key_id_len, pad[3]; __be32 sig_len; }.
 * id_type 2 (PKCS#7, kernels from 4.3 and the kbuild sign-file of Debian 12): the data is a DER
 * PKCS#7 SignedData and every other field is 0. id_type 1 (X.509, the 3.x trees CentOS 7 ships):
 * the data is the signer's name, the key identifier, then the RSA signature as an MPI (a big-endian
 * 16-bit bit count followed by the bytes), with algo and hash naming the algorithms.
 */
import { NbdforgeError } from '../errors.ts';

export const MODULE_SIG_STRING = '~Module signature appended~\n';
const MAGIC = Buffer.from(MODULE_SIG_STRING, 'latin1');
const INFO_LEN = 12;

export const PKEY_ID = { PGP: 0, X509: 1, PKCS7: 2 } as const;
/** enum hash_algo of the 3.x kernels, in order (include/crypto/hash_info.h / linux/hash_info.h). */
export const LEGACY_HASHES = ['md4', 'md5', 'sha1', 'rmd160', 'sha256', 'sha384', 'sha512', 'sha224'];

export class SignatureFormatError extends NbdforgeError {
  override name = 'SignatureFormatError';
}

export interface AppendedSignature {
  /** The module as it was before signing: what the signature covers. */
  content: Uint8Array;
  algo: number;
  hash: number;
  idType: number;
  /** id_type 1 only: the signer's name and key identifier written by the old sign-file. */
  signerName: Uint8Array;
  keyId: Uint8Array;
  /** PKCS#7: the DER SignedData. X.509: the MPI with its 2-byte bit count. */
  data: Uint8Array;
}

/** True when the bytes end with the marker (says nothing about validity). */
export function hasAppendedSignature(ko: Uint8Array): boolean {
  return ko.length >= MAGIC.length && Buffer.from(ko.subarray(ko.length - MAGIC.length)).equals(MAGIC);
}

/** Split a signed module into its parts; undefined for an unsigned module, an error for a malformed one. */
export function splitSignature(ko: Uint8Array, where = 'module'): AppendedSignature | undefined {
  if (!hasAppendedSignature(ko)) return undefined;
  const infoAt = ko.length - MAGIC.length - INFO_LEN;
  if (infoAt < 0) throw new SignatureFormatError(`${where}: signature marker without room for struct module_signature`);
  const v = new DataView(ko.buffer, ko.byteOffset + infoAt, INFO_LEN);
  const [algo, hash, idType, signerLen, keyIdLen] = [0, 1, 2, 3, 4].map((i) => v.getUint8(i));
  const sigLen = v.getUint32(8, false);
  const total = signerLen + keyIdLen + sigLen;
  if (total > infoAt) throw new SignatureFormatError(`${where}: signature lengths (${total} bytes) exceed the module (${infoAt} bytes before the signature info)`);
  const dataAt = infoAt - sigLen;
  const nameAt = dataAt - keyIdLen - signerLen;
  if (idType === PKEY_ID.PKCS7) {
    // What the kernel's mod_check_sig insists on for PKCS#7.
    if (algo || hash || signerLen || keyIdLen || v.getUint8(5) || v.getUint8(6) || v.getUint8(7))
      throw new SignatureFormatError(`${where}: PKCS#7 signature info has non-zero algo/hash/signer/key id/padding fields`);
  } else if (idType !== PKEY_ID.X509) {
    throw new SignatureFormatError(`${where}: signature id_type ${idType} is neither X.509 (1) nor PKCS#7 (2)`);
  }
  if (sigLen === 0) throw new SignatureFormatError(`${where}: empty signature`);
  return {
    content: ko.subarray(0, nameAt),
    algo,
    hash,
    idType,
    signerName: ko.subarray(nameAt, nameAt + signerLen),
    keyId: ko.subarray(nameAt + signerLen, dataAt),
    data: ko.subarray(dataAt, infoAt),
  };
}
