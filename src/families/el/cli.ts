/**
 * The command-line surface every RPM ("el") family shares: `--release` for kernels/build/matrix, and
 * `nbdforge kernels [sync] --family F` (lists the synced catalog without Docker; syncs from the
 * vault's signed repodata). Options arrive parsed; the environment comes from the caller
 * (NBDFORGE_<FAMILY>_DATA, NBDFORGE_<FAMILY>_VAULT).
 */
import path from 'node:path';
import { existsSync, statSync } from 'node:fs';
import { redact } from '../../util/redact.ts';
import type { FamilyCli, KernelEntry, OptionValues } from '../family.ts';
import { createProgressRenderer, formatBytes } from '../../fetch/index.ts';
import { familyDataDir, loadElData, readElCatalog, syncElCatalog, type ElCatalog, type ElKernel, type ElSyncResult } from './catalog/index.ts';
import { UsageError } from '../../errors.ts';
import type { NetOptions } from '../../fetch/index.ts';

export interface ListElOptions {
  family: string;
  cacheDir: string;
  /** Only this point release (e.g. 7.9.2009). */
  release?: string;
  /** Only these kernels: a kernel release (3.10.0-1160.el7.x86_64) or a version (3.10.0-1160.el7). */
  kernels?: string[];
}

export interface ListElResult {
  vault: string;
  syncedAt: string;
  kernels: ElKernel[];
}

/** Kernels from the cached catalog (no network). Throws CatalogMissingError before the first sync. */
export async function listEl(o: ListElOptions): Promise<ListElResult> {
  const catalog = await readElCatalog(o.cacheDir, o.family);
  return { vault: catalog.vault, syncedAt: catalog.syncedAt, kernels: selectElKernels(catalog, o) };
}

/** Filter a catalog; unknown names are a usage error that names them (resolve, then act). */
export function selectElKernels(catalog: ElCatalog, o: { release?: string; kernels?: string[] }): ElKernel[] {
  const family = catalog.family;
  if (o.release && !catalog.repos.some((r) => r.release === o.release) && !catalog.kernels.some((k) => k.release === o.release)) {
    const known = [...new Set(catalog.repos.map((r) => r.release))].join(', ');
    throw new UsageError(`${family} point release ${o.release} is not in the catalog (synced: ${known || 'none'})`);
  }
  let out = catalog.kernels.filter((k) => !o.release || k.release === o.release);
  if (o.kernels?.length) {
    const missing = o.kernels.filter((n) => !out.some((k) => k.kernelRelease === n || k.version === n));
    if (missing.length) throw new UsageError(`not in the ${family} catalog${o.release ? ` for ${o.release}` : ''}: ${missing.join(', ')}`);
    out = out.filter((k) => o.kernels!.includes(k.kernelRelease) || o.kernels!.includes(k.version));
  }
  return out;
}

export interface SyncElOptions {
  family: string;
  cacheDir: string;
  /** --vault: https URL, internal mirror, file:// URL or local directory. */
  vault?: string;
  /** --release: sync one point release only. */
  release?: string;
  allowPartial?: boolean;
  /** Accept repositories without repomd.xml.asc (their RPM signatures still guard the packages). */
  allowUnsignedRepodata?: boolean;
  /** kernels/<family> folder (default: the one shipped with nbdforge). */
  dataDir?: string;
  keyFile?: string;
  fingerprint?: string;
  concurrency?: number;
  /** Where a progress line goes when it is a TTY (normally ctx.stderr). */
  progress?: NodeJS.WritableStream & { isTTY?: boolean };
  signal?: AbortSignal;
  /** The fetch door's bounds and waiting line (--timeout, NBDFORGE_TIMEOUT). */
  net?: NetOptions;
}

/** Refresh the catalog from the vault's signed repodata; returns what was written. */
export async function syncEl(o: SyncElOptions): Promise<ElSyncResult> {
  if (o.vault !== undefined) checkVault(o.vault);
  const data = await loadElData(o.dataDir ?? familyDataDir(o.family), o.family);
  if (o.release && !data.releases.some((r) => r.release === o.release)) {
    throw new UsageError(`unknown ${o.family} point release ${o.release} (known: ${data.releases.map((r) => r.release).join(', ')})`);
  }
  const renderer = o.progress ? createProgressRenderer(o.progress) : undefined;
  try {
    return await syncElCatalog({
      cacheDir: o.cacheDir,
      data,
      vault: o.vault,
      releases: o.release ? [o.release] : undefined,
      keyFile: o.keyFile,
      fingerprint: o.fingerprint,
      allowPartial: o.allowPartial,
      allowUnsignedRepodata: o.allowUnsignedRepodata,
      concurrency: o.concurrency,
      signal: o.signal,
      net: o.net,
      onProgress: renderer?.onProgress,
    });
  } finally {
    renderer?.finish();
  }
}

/** --vault is checked before any request: http(s) with a host, file://, or an existing directory. */
export function checkVault(vault: string): void {
  const bad = (why: string): never => {
    throw new UsageError(`--vault ${JSON.stringify(redact(vault))}: ${why}; give an http(s):// URL, a file:// URL or a local directory (a copy of the CentOS vault tree)`);
  };
  if (vault.trim() === '') bad('empty');
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(vault)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (!existsSync(vault) || !statSync(vault).isDirectory()) bad('no such directory');
    return;
  }
  if (!['http', 'https', 'file'].includes(scheme)) bad(`${scheme}:// is not supported`);
  let url: URL;
  try {
    url = new URL(vault);
  } catch {
    return bad('not a valid URL');
  }
  if (scheme !== 'file' && !url.hostname) bad('no host in the URL');
}

/** Plain-text table for `nbdforge kernels --family F`. */
export function formatElList(r: ListElResult): string {
  const rows = r.kernels.map((k) => [k.release, k.repo, k.kernelRelease, formatBytes(k.srpm.size), formatBytes(k.devel.size)]);
  const head = ['RELEASE', 'REPO', 'KERNEL', 'SRPM', 'DEVEL'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(head), ...rows.map(line), `${r.kernels.length} kernel(s); catalog synced ${r.syncedAt} from ${r.vault}`].join('\n');
}

/** One summary for `nbdforge kernels sync --family F`. */
export function formatElSync(r: ElSyncResult): string {
  const c = r.catalog;
  const unsigned = c.repos.filter((r) => r.signer === null).length;
  const signed = c.repos.length - unsigned;
  const lines = [
    `${c.kernels.length} kernel(s) from ${signed} repositor${signed === 1 ? 'y' : 'ies'} signed by ${c.fingerprint}` +
      `${unsigned ? ` and ${unsigned} unsigned (RPM signatures only)` : ''} at ${c.vault}`,
    `catalog: ${r.file}`,
  ];
  if (c.unpaired.length) lines.push(`unpaired packages (skipped): ${c.unpaired.length}`);
  for (const p of r.problems) lines.push(`FAILED ${p.repo}: ${p.error.message}`);
  return lines.join('\n');
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** The FamilyCli of an RPM family: EXAMPLE is one of its point releases, for the help text. */
export function createElCli(family: string, example: string): FamilyCli {
  const ENV = `NBDFORGE_${family.toUpperCase()}`;
  const pad = (flag: string) => `  ${flag.padEnd(28)}${family}: `;
  /** `--release R`: the kernels of one point release (it also picks the builder container). */
  const selectRelease = (kernels: KernelEntry[], values: OptionValues): KernelEntry[] => {
    const release = str(values.release);
    if (!release) return kernels;
    const of = (k: KernelEntry) => (k as KernelEntry & { release?: string }).release;
    const out = kernels.filter((k) => of(k) === release);
    if (out.length === 0) throw new UsageError(`no ${family} kernels for release ${release} in the catalog (releases: ${[...new Set(kernels.map(of))].join(', ') || 'none'})`);
    return out;
  };
  return {
    about: `${family}: the list is the catalog \`kernels sync\` wrote from the vault's signed repodata; listing never\ntouches the network.`,
    selectors: {
      options: { release: { type: 'string' } },
      usage: `${pad('--release R')}one point release, e.g. ${example}`,
      select: selectRelease,
    },
    kernels: {
      options: {
        kernels: { type: 'string' },
        vault: { type: 'string' },
        'allow-partial': { type: 'boolean', default: false },
        'allow-unsigned-repodata': { type: 'boolean', default: false },
      },
      usage: [
        `${pad('--kernels a,b')}only these kernels (list)`,
        `${pad('--vault URL')}sync from this vault: https://, http://, file:// or a directory`,
        `${' '.repeat(30)}(default: kernels/${family}/releases.json's, or ${ENV}_VAULT)`,
        `${pad('--allow-partial')}write the catalog from the repositories that verified`,
        `${pad('--allow-unsigned-repodata')}accept repositories without repomd.xml.asc (RPM signatures still checked)`,
      ].join('\n'),
      async run({ sync, values, paths, env, json, out, err, net: netOptions }) {
        const dataDir = env[`${ENV}_DATA`] ? path.resolve(env[`${ENV}_DATA`]!) : undefined;
        if (sync) {
          if (values.kernels) throw new UsageError('--kernels selects from the catalog; `sync` reads whole point releases (--release)');
          const net = netOptions(); // the sync draws its own progress
          const ac = new AbortController();
          const onSignal = () => ac.abort(new Error('interrupted'));
          process.once('SIGINT', onSignal);
          try {
            const r = await syncEl({
              family,
              cacheDir: paths.cache,
              dataDir,
              vault: str(values.vault) ?? (env[`${ENV}_VAULT`] || undefined),
              release: str(values.release),
              allowPartial: values['allow-partial'] === true,
              allowUnsignedRepodata: values['allow-unsigned-repodata'] === true,
              progress: json ? undefined : err,
              signal: ac.signal,
              net,
            });
            if (json) out.write(JSON.stringify({ family, file: r.file, catalog: r.catalog, problems: r.problems.map((p) => ({ repo: p.repo, error: p.error.message })) }, null, 2) + '\n');
            else out.write(formatElSync(r) + '\n');
            return 0;
          } finally {
            process.off('SIGINT', onSignal);
          }
        }
        if (values.vault || values['allow-partial'] || values['allow-unsigned-repodata'] || values.timeout) throw new UsageError('--vault, --allow-partial, --allow-unsigned-repodata and --timeout go with `kernels sync`');
        const kernels = str(values.kernels)?.split(',').map((s) => s.trim()).filter(Boolean);
        const r = await listEl({ family, cacheDir: paths.cache, release: str(values.release), kernels }); // no catalog yet: exit 2
        if (json) out.write(JSON.stringify({ family, ...r }, null, 2) + '\n');
        else out.write(formatElList(r) + '\n');
        return 0;
      },
    },
  };
}
