/** The catalog of an RPM ("el") family: which kernels exist, proven by the vault's signed repodata (el7 today). */
export { syncElCatalog, ElSyncError, VaultUnreachableError, type ElSyncOptions, type ElSyncResult, type ElRepoProblem } from './sync.ts';
export { readElCatalog, writeElCatalog, catalogFile, joinKernels, compareRpmVersions, CatalogMissingError } from './catalog.ts';
export type { ElCatalog, ElKernel, ElFile, ElRepoState } from './catalog.ts';
export { loadElData, familyDataDir, type ElData } from './data.ts';
export { verifyDetached, keyFileFingerprints, SignatureError } from '../../../doors/gpg.ts';
export { parseRepomd, RepomdError, type Repomd } from '../../../rpm-repo/repomd.ts';
export { scanPrimaryGz, parsePackageBlock, PrimaryError, type PackageRecord } from '../../../rpm-repo/primary.ts';
export { verifyRpmSignature } from '../../../rpm-repo/rpm-signature.ts';
export { fetchElSources, fetchElFile, type ElSourceFiles, type FetchElSourcesOptions } from './fetch-sources.ts';
export { toKernelEntry, toCatalogResult, elCatalogResult, ensureElSources, type ElKernelEntry, type ElCatalogResult } from './family-adapter.ts';
