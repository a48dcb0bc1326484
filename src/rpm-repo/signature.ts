/**
 * The gpgv check moved to the gpg door (doors/gpg.ts). This re-export stays only while
 * src/host/prepare-host/http-source.ts (moved at the same time by issue 21's h21a) imports it here:
 * point that import at doors/gpg.ts and delete this file.
 */
export { SignatureError, normalizeFingerprint, keyFileFingerprints, verifyDetached, type VerifyOptions } from '../doors/gpg.ts';
