import type { Containers } from '../docker/containers.ts';
import type { PatchRule } from '../module-spec/patches.ts';
import type { ImageSpec } from '../docker/image.ts';
import type { Paths } from '../paths.ts';
import type { ModuleSpec } from '../module-spec/module-spec.ts';
import type { NetOptions } from '../fetch/index.ts';
import type { GuestKernel } from '../guest/kernel.ts';
import { NbdforgeError } from '../errors.ts';

/** One downloadable input of a build, pinned by hash. */
export interface SourceFile {
  /** What the recipe uses it for: headers, headers-common, kbuild, compiler, source, image, devel, srpm. */
  role: string;
  name: string;
  version: string;
  /** File name in the family's download cache. */
  filename: string;
  sha256: string;
  size: number;
}

/** A kernel a family can build for. */
export interface KernelEntry {
  family: string;
  kernelRelease: string;
  /** Version of the source package the kernel was built from. */
  sourceVersion: string;
  files: SourceFile[];
}

export interface CatalogResult {
  fetchedAt: string;
  kernels: KernelEntry[];
  /** Kernels seen but not buildable, with the reason (e.g. no matching source package). */
  skipped: Array<{ kernelRelease: string; reason: string }>;
}

export interface FamilyContext {
  /**
   * The one door to the container engine (image, run, copy out; none for a family that needs no
   * container, as el7's catalog): commands hand one that connects
   * when first used (commands/session.ts), tests hand dockerContainers(engine) or a fake.
   */
  containers?: Containers;
  paths: Paths;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** The fetch door's bounds (--timeout, NBDFORGE_TIMEOUT) and waiting line, for every download and apt run. */
  net?: NetOptions;
}

/** What the shared build step needs from a family for one kernel: everything resolved, nothing done yet. */
export interface Recipe {
  image: ImageSpec;
  cmd: string[];
  env: Record<string, string>;
  /** Host directories the container needs (download cache read-only, derived cache read-write). */
  binds: string[];
  /** True when the distribution ships its own build of the module to compare against. */
  oracle: boolean;
  /** The kernel tree's own scripts/sign-file as a container with `binds` sees it once the build ran. */
  signFile: string;
  /**
   * The command writes its results to $OUT and works in $WORK when they are set, and needs no network:
   * the builds of a matrix worker may share one kept container (builder/kept-builders.ts).
   */
  reentrant?: boolean;
}

/** Options as node:util parseArgs declares them. */
export type OptionSpec = Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>;
export type OptionValues = Record<string, string | boolean | undefined>;

/** What a family adds to the shared commands: shared code never names a family. */
export interface FamilyCli {
  /** One or two lines for `nbdforge kernels --help`: where the family's list of kernels comes from. */
  about?: string;
  /** Selectors `kernels`, `build` and `matrix` accept for this family (el7: --release). */
  selectors?: { options: OptionSpec; usage: string; select(kernels: KernelEntry[], values: OptionValues): KernelEntry[] };
  /**
   * `nbdforge kernels [sync]` done the family's own way (el7: lists its synced catalog without
   * Docker, syncs from the vault), with the options it declares here.
   */
  kernels?: {
    options: OptionSpec;
    usage: string;
    /** NET: the fetch door's options from --timeout (or NBDFORGE_TIMEOUT), read when the family fetches; it draws its own progress. */
    run(req: { sync: boolean; values: OptionValues; paths: Paths; env: NodeJS.ProcessEnv; json: boolean; out: NodeJS.WritableStream; err: NodeJS.WritableStream & { isTTY?: boolean }; net: () => NetOptions }): Promise<number>;
  };
}

/** One thing a kernel's builds keep in the cache: a download or what a build derived from one. */
export interface CacheEntry {
  /** Absolute path of a file or directory directly inside one of the family's `CacheLayout.scan` directories. */
  path: string;
  /** What it is for: the SourceFile role (headers, kbuild, srpm, devel, ...) or the derived product (kbuild-tree, nbd.c, oracle-module, devel-tree). */
  role: string;
  kind: 'download' | 'derived';
}

/** Where a family keeps things below the cache root, for `nbdforge cache du` and `prune`. */
export interface CacheLayout {
  /**
   * Directories whose entries (`depth` levels down: 1 = direct children) hold per-kernel downloads and
   * derived products. An entry no catalog kernel names is left over; a directory several families
   * name (the content-addressed `sha256/`) is judged with all of their catalogs.
   */
  scan: Array<{ dir: string; depth: number }>;
  /** What the family needs whatever the kernels (catalog, apt lists, repodata): never pruned. */
  keep: Array<{ path: string; role: string }>;
}

export interface Family {
  name: string;
  /** The catalog as last cached, whatever its age; undefined when there is none. No engine, no network. */
  cachedCatalog?(ctx: Pick<FamilyContext, 'paths'>): Promise<CatalogResult | undefined>;
  /** The cache's layout for this family (may read the cached catalog: el7 keeps the repodata it names). */
  cacheLayout?(ctx: Pick<FamilyContext, 'paths'>): Promise<CacheLayout>;
  /** Pure: what one kernel's fetch and build keep in the cache (whether present or not). */
  cacheFiles?(ctx: Pick<FamilyContext, 'paths'>, kernel: KernelEntry): CacheEntry[];
  /** The family's own command-line surface, if any. */
  cli?: FamilyCli;
  /**
   * The package channel hosts of this family install from: 'yum' (RPMs, el families) or 'apt'
   * (.debs, Debian families). Publishing to the other one is refused.
   */
  packageChannel: 'yum' | 'apt';
  /** Known kernels; served from the cache unless `refresh` or the cache is older than its TTL. */
  catalog(ctx: FamilyContext, opts?: { refresh?: boolean }): Promise<CatalogResult>;
  /**
   * Make every source file present in the cache with its hash checked; returns role -> host path. With
   * `module`, a family may keep of a large package only what that module's build reads (debian12: the
   * module's sources out of linux-source, checked whole, then not kept).
   */
  ensureSources(ctx: FamilyContext, kernel: KernelEntry, module?: ModuleSpec): Promise<Record<string, string>>;
  /**
   * The kernel itself, bootable in a QEMU guest (nbdforge prove): vmlinuz and the package's module
   * tree without its own nbd, from the package the catalog pins by sha256. Absent, or throwing
   * NoBootKernelError: the family cannot supply one, and the artifact stays unproven.
   */
  bootKernel?(ctx: FamilyContext, kernel: KernelEntry): BootKernel;
  /** Pure: everything the build container needs, from the catalog entry and what the caller loaded once. */
  recipe(ctx: FamilyContext, kernel: KernelEntry, module: ModuleSpec, opts: { oracle: boolean; patchRules: PatchRule[] }): Recipe;
}

/** A kernel to boot: the package it comes from (a proof's key names its sha256), and the unpacked kernel on demand. */
export interface BootKernel {
  package: { name: string; version: string; sha256: string };
  /** Fetch (pinned by the package's sha256) and unpack once; later calls are cheap. */
  unpack(): Promise<GuestKernel>;
}

/** The family has no bootable kernel for this release: the artifact stays unproven, nothing pretends. */
export class NoBootKernelError extends NbdforgeError {
  override name = 'NoBootKernelError';
}

/** A kernel the catalog does not list: the user's word is wrong, so it is a usage error (exit 2). */
export class UnknownKernelError extends NbdforgeError {
  override name = 'UnknownKernelError';
  override readonly exitCode = 2;
}

export class UnknownFamilyError extends NbdforgeError {
  override name = 'UnknownFamilyError';
  override readonly exitCode = 2;
}
