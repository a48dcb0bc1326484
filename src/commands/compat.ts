import { type Command, parse, pathsFrom, UsageError } from './context.ts';
import { getFamily } from '../families/index.ts';
import { openSession } from './session.ts';
import { DirStore } from '../artifacts/dir-store.ts';
import { renderCompat } from '../verify/compat.ts';
import { catalogCompat, pointRelease } from '../families/el/compat-catalog.ts';

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
    const inScope = catalog.filter((k) => values.release === undefined || pointRelease(k) === values.release);
    if (inScope.length === 0) throw new UsageError(`no ${family.name} kernel in the catalog${values.release ? ` for release ${values.release}` : ''}`);
    const store = new DirStore(paths.store);
    const names = new Set(inScope.map((k) => k.kernelRelease));
    const entries = (await store.list()).filter((e) => e.family === family.name && e.module === 'nbd' && names.has(e.kernelRelease));
    const rows = await catalogCompat(paths.cache, family.name, inScope, entries.map((e) => ({ kernelRelease: e.kernelRelease, modulePath: store.artifactPath(e) })));
    if (values.json) ctx.stdout.write(JSON.stringify({ family: family.name, release: values.release ?? null, kernels: names.size, rows }, null, 2) + '\n');
    else ctx.stdout.write(rows.length ? renderCompat(rows) : `no stored ${family.name} module for these kernels (nbdforge matrix --family ${family.name} builds them)\n`);
    return 0;
  },
};
export default compat;
