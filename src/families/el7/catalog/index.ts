/** el7 catalog: which CentOS 7 kernels exist, proven by the vault's signed repodata. */
export { syncEl7Catalog, El7SyncError, VaultUnreachableError, type El7SyncOptions, type El7SyncResult, type El7RepoProblem } from './sync.ts';
export { readEl7Catalog, writeEl7Catalog, catalogFile, joinKernels, compareRpmVersions, CatalogMissingError } from './catalog.ts';
export type { El7Catalog, El7Kernel, El7File, El7RepoState } from './catalog.ts';
export { loadEl7Data, defaultEl7DataDir, type El7Data } from './data.ts';
export { verifyDetached, keyFileFingerprints, SignatureError } from '../../../rpm-repo/signature.ts';
export { parseRepomd, RepomdError, type Repomd } from '../../../rpm-repo/repomd.ts';
export { scanPrimaryGz, parsePackageBlock, PrimaryError, type PackageRecord } from '../../../rpm-repo/primary.ts';
export { verifyRpmSignature } from '../../../rpm-repo/rpm-signature.ts';
export { fetchEl7Sources, type El7SourceFiles, type FetchEl7SourcesOptions } from './fetch-sources.ts';
export { toKernelEntry, toCatalogResult, el7CatalogResult, ensureEl7Sources, type El7KernelEntry, type El7CatalogResult } from './family-adapter.ts';
