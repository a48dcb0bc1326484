import { type Command, parse, pathsFrom, UsageError } from './context.ts';
import { getFamily, familyNames } from '../families/index.ts';
import { openSession } from './session.ts';

const usage = `Usage: nbdforge kernels [--family F] [--refresh] [--json]

Lists the kernels a family can build for, with the source version each one is built from.
The list comes from the family's archive (debian12: apt, read in the builder container) and is
cached for a day; --refresh reads the archive again.

Options:
  --family F    ${familyNames().join(' | ')} (default debian12)
  --refresh     ignore the cached catalog
  --json        machine-readable output`;

const kernels: Command = {
  summary: 'List the kernels a family can build for',
  usage,
  async run(argv, ctx) {
    const { values, positionals } = parse(argv, { family: { type: 'string', default: 'debian12' }, refresh: { type: 'boolean', default: false } }, true);
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"\n${usage}`);
    const family = getFamily(values.family!, ctx.env);
    const session = await openSession(pathsFrom(values, ctx.env), ctx.env, (l) => ctx.stderr.write(`${l.trimEnd()}\n`));
    try {
      const cat = await family.catalog(session, { refresh: values.refresh });
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
