import fs from 'node:fs/promises';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { type Command, parse, pathsFrom, UsageError } from './context.ts';
import { getFamily } from '../families/index.ts';
import { openSession } from './session.ts';
import { DirStore } from '../artifacts/dir-store.ts';
import { cachePath } from '../fetch/index.ts';
import { parseElf } from '../verify/index.ts';
import { readVersions, parseModuleSymvers } from '../verify/versions.ts';
import { compatRows, renderCompat } from '../verify/compat.ts';

const usage = `Usage: nbdforge compat [--family el7] [--release R] [--json] [--store DIR]

For each stored module of an el family, which other kernels of its catalog could load it: every
symbol the module imports (its __versions) must have the same CRC in that kernel's Module.symvers
(read from the kernel-devel RPM already fetched for builds), as RHEL's weak-modules and the
prepare-host kernel hook check before linking a module into weak-updates/. For each kernel that
cannot, the first symbol that breaks it. Debian families change CRCs with every ABI: not for them.

Options:
  --family F     an el family (default el7)
  --release R    only kernels of this point release (e.g. 7.9.2009)
  --json         rows as JSON

Examples:
  nbdforge compat --family el7
  nbdforge compat --family el7 --release 7.9.2009 --json

Exit status: 0 the table (whatever it says), 1 the catalog or a kernel-devel RPM could not be read, 2 usage.`;

const compat: Command = {
  summary: 'Which other kernels of an el family could load each stored module (import CRCs vs Module.symvers)',
  usage,
  async run(argv, ctx) {
    const { values } = parse(argv, { family: { type: 'string', default: 'el7' }, release: { type: 'string' } });
    if (!/^el\d+$/.test(values.family!)) throw new UsageError(`compat is for el families (kABI keeps CRCs within a point release); ${values.family} kernels change CRCs with every ABI`);
    const paths = pathsFrom(values, ctx.env);
    const family = getFamily(values.family!, ctx.env);
    const session = await openSession(paths, ctx.env, (l) => ctx.stderr.write(`${l.trimEnd()}\n`));
    let catalog;
    try {
      catalog = (await family.catalog(session)).kernels;
    } finally {
      session.close();
    }
    const inScope = catalog.filter((k) => values.release === undefined || (k as { release?: string }).release === values.release);
    if (inScope.length === 0) throw new UsageError(`no ${family.name} kernel in the catalog${values.release ? ` for release ${values.release}` : ''}`);
    const store = new DirStore(paths.store);
    const names = new Set(inScope.map((k) => k.kernelRelease));
    const entries = (await store.list()).filter((e) => e.family === family.name && e.module === 'nbd' && names.has(e.kernelRelease));
    const artifacts = [];
    for (const e of entries) artifacts.push({ kernelRelease: e.kernelRelease, imports: readVersions(parseElf(new Uint8Array(await fs.readFile(store.artifactPath(e))), e.file)) });
    const symvers = new Map<string, Map<string, number>>();
    for (const k of inScope) {
      const text = await symversOf(paths.cache, family.name, k.kernelRelease, k.files.find((f) => f.role === 'devel')?.sha256);
      if (text !== undefined) symvers.set(k.kernelRelease, parseModuleSymvers(text, `Module.symvers of ${k.kernelRelease}`));
    }
    const rows = compatRows(artifacts, [...names], (k) => symvers.get(k));
    if (values.json) ctx.stdout.write(JSON.stringify({ family: family.name, release: values.release ?? null, kernels: names.size, rows }, null, 2) + '\n');
    else ctx.stdout.write(rows.length ? renderCompat(rows) : `no stored ${family.name} module for these kernels (nbdforge matrix --family ${family.name} builds them)\n`);
    return 0;
  },
};
export default compat;

/**
 * A kernel's Module.symvers, from the kernel-devel RPM in the download cache (extracted once and
 * kept under <cache>/<family>/derived/symvers/), or undefined when that RPM was never fetched.
 */
async function symversOf(cache: string, family: string, kernelRelease: string, develSha?: string): Promise<string | undefined> {
  const kept = path.join(cache, family, 'derived', 'symvers', kernelRelease);
  const had = await fs.readFile(kept, 'utf8').catch(() => undefined);
  if (had !== undefined) return had;
  if (!develSha) return undefined;
  const rpm = cachePath(cache, develSha);
  if (!(await fs.stat(rpm).catch(() => undefined))) return undefined;
  const r = spawnSync('sh', ['-c', 'rpm2cpio "$1" | cpio -i --quiet --to-stdout "$2"', 'sh', rpm, `./usr/src/kernels/${kernelRelease}/Module.symvers`], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0 || !r.stdout) return undefined;
  await fs.mkdir(path.dirname(kept), { recursive: true });
  await fs.writeFile(kept, r.stdout);
  return r.stdout;
}
