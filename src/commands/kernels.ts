import path from 'node:path';
import { type Command, parse, pathsFrom, UsageError } from './context.ts';
import { getFamily, familyNames } from '../families/index.ts';
import { openSession } from './session.ts';
import { CatalogMissingError } from '../families/el7/catalog/index.ts';
import { formatEl7List, formatEl7Sync, listEl7, syncEl7 } from '../families/el7/cli.ts';

const usage = `Usage: nbdforge kernels [sync] [--family F] [--release R] [--kernels a,b] [--refresh] [--json]
       nbdforge kernels sync --family el7 [--vault URL] [--release R] [--allow-partial] [--allow-unsigned-repodata]

Lists the kernels a family can build for, with the source version each one is built from.
debian12: the list comes from apt, read in the builder container, cached for a day (--refresh or
\`sync\` reads the archive again). el7: the list is the catalog \`kernels sync\` wrote from the vault's
signed repodata; listing never touches the network.

Options:
  --family F                  ${familyNames().join(' | ')} (default debian12)
  --refresh                   ignore the cached catalog (same as \`sync\`)
  --json                      machine-readable output
el7 only:
  --release R                 one point release, e.g. 7.9.2009 (list or sync)
  --kernels a,b               only these kernels (list)
  --vault URL                 sync from this vault: https://, http://, file:// or a directory
                              (default: kernels/el7/releases.json's, or NBDFORGE_EL7_VAULT)
  --allow-partial             write the catalog from the repositories that verified
  --allow-unsigned-repodata   accept repositories without repomd.xml.asc (RPM signatures still checked)`;

const kernels: Command = {
  summary: 'List (or sync) the kernels a family can build for',
  usage,
  async run(argv, ctx) {
    const { values, positionals } = parse(
      argv,
      {
        family: { type: 'string', default: 'debian12' },
        refresh: { type: 'boolean', default: false },
        release: { type: 'string' },
        kernels: { type: 'string' },
        vault: { type: 'string' },
        'allow-partial': { type: 'boolean', default: false },
        'allow-unsigned-repodata': { type: 'boolean', default: false },
      },
      true,
    );
    const [sub, ...extra] = positionals;
    if ((sub !== undefined && sub !== 'sync') || extra.length) throw new UsageError(`unexpected argument "${sub !== 'sync' ? sub : extra[0]}"\n${usage}`);
    const sync = sub === 'sync' || values.refresh!;
    const paths = pathsFrom(values, ctx.env);
    if (values.family === 'el7') return el7(values, sync, paths.cache, ctx);
    const el7Only = (['release', 'kernels', 'vault', 'allow-partial', 'allow-unsigned-repodata'] as const).filter((o) => values[o]);
    if (el7Only.length) throw new UsageError(`--${el7Only[0]} applies to --family el7 only`);
    const family = getFamily(values.family!, ctx.env);
    const session = await openSession(paths, ctx.env, (l) => ctx.stderr.write(`${l.trimEnd()}\n`));
    try {
      const cat = await family.catalog(session, { refresh: sync });
      if (values.json) {
        ctx.stdout.write(JSON.stringify({ family: family.name, ...cat }, null, 2) + '\n');
        return 0;
      }
      ctx.stdout.write(`family ${family.name}, catalog read ${cat.fetchedAt}\n`);
      const w = Math.max(14, ...cat.kernels.map((k) => k.kernelRelease.length));
      ctx.stdout.write(`${'KERNEL'.padEnd(w)}  SOURCE VERSION\n`);
      for (const k of cat.kernels) ctx.stdout.write(`${k.kernelRelease.padEnd(w)}  ${k.sourceVersion}\n`);
      for (const s of cat.skipped) ctx.stdout.write(`${s.kernelRelease.padEnd(w)}  (skipped: ${s.reason})\n`);
      return 0;
    } finally {
      session.close();
    }
  },
};
export default kernels;

type Values = { release?: string; kernels?: string; vault?: string; json?: boolean; 'allow-partial'?: boolean; 'allow-unsigned-repodata'?: boolean };

/** `kernels [sync] --family el7`: no Docker needed, only the vault (sync) or the cached catalog. */
async function el7(values: Values, sync: boolean, cacheDir: string, ctx: Parameters<Command['run']>[1]): Promise<number> {
  const env = ctx.env;
  const dataDir = env.NBDFORGE_EL7_DATA ? path.resolve(env.NBDFORGE_EL7_DATA) : undefined;
  if (sync) {
    if (values.kernels) throw new UsageError('--kernels selects from the catalog; `sync` reads whole point releases (--release)');
    const ac = new AbortController();
    const onSignal = () => ac.abort(new Error('interrupted'));
    process.once('SIGINT', onSignal);
    try {
      const r = await syncEl7({
        cacheDir,
        dataDir,
        vault: values.vault ?? (env.NBDFORGE_EL7_VAULT || undefined),
        release: values.release,
        allowPartial: values['allow-partial'],
        allowUnsignedRepodata: values['allow-unsigned-repodata'],
        progress: ctx.stderr,
        signal: ac.signal,
      });
      if (values.json) ctx.stdout.write(JSON.stringify({ family: 'el7', file: r.file, catalog: r.catalog, problems: r.problems.map((p) => ({ repo: p.repo, error: p.error.message })) }, null, 2) + '\n');
      else ctx.stdout.write(formatEl7Sync(r) + '\n');
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
    }
  }
  if (values.vault || values['allow-partial'] || values['allow-unsigned-repodata']) throw new UsageError('--vault, --allow-partial and --allow-unsigned-repodata go with `kernels sync`');
  try {
    const r = await listEl7({ cacheDir, release: values.release, kernels: values.kernels?.split(',').map((s) => s.trim()).filter(Boolean) });
    if (values.json) ctx.stdout.write(JSON.stringify({ family: 'el7', ...r }, null, 2) + '\n');
    else ctx.stdout.write(formatEl7List(r) + '\n');
    return 0;
  } catch (err) {
    if (err instanceof CatalogMissingError) throw new UsageError(err.message);
    throw err;
  }
}
