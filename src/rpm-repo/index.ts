/** Generic RPM repository reading (any RPM family: el7 today, el8 tomorrow): repomd, primary, signatures. */
export { parseRepomd, RepomdError, type Repomd } from './repomd.ts';
export { scanPrimaryGz, parsePackageBlock, PrimaryError, type PackageRecord } from './primary.ts';
export { verifyDetached, keyFileFingerprints, normalizeFingerprint, SignatureError } from '../doors/gpg.ts';
export { verifyRpmSignature } from './rpm-signature.ts';
