import { type Command, parse, pathsFrom, UsageError } from './context.ts';
import { DEFAULT_FAMILY, getFamily, familyNames } from '../families/index.ts';
import { familyOf, refuseOtherFamiliesOptions } from './family-arg.ts';
import { openSession } from './session.ts';
import { NOT_BUILT, STATE_HEADER, stateColumns, storeStates } from '../prove/status.ts';
import { netOptionsFrom, timeoutHelp, timeoutOption } from './net-options.ts';

const usage = (extra: string[]) => `Usage: nbdforge kernels [sync] [--family F] [--refresh] [--timeout S] [--json] [family options]

Lists the kernels a family can build for, with the source version each one is built from, and
what the store holds for each: built, verified (bytes and static checks), proven (nbdforge prove).
${familyNames().map((n) => getFamily(n, {}).cli?.about ?? `${n}: see docs/families.md`).join('\n')}

Options:
  --family F                  ${familyNames().join(' | ')} (default ${DEFAULT_FAMILY})
  --refresh                   ignore the cached catalog (same as \`sync\`)
${timeoutHelp(30)}
  --json                      machine-readable output
${extra.filter(Boolean).join('\n')}

Examples:
  nbdforge kernels
  nbdforge kernels --family el7 --release 7.9.2009
  nbdforge kernels sync --family el7 --vault /srv/centos-vault

Exit status: 0 listed, 1 the catalog could not be read or synced (archive or vault unreachable), 2 usage.`;

const kernels: Command = {
  summary: 'List (or sync) the kernels a family can build for',
  get usage() {
    return usage(familyNames().flatMap((n) => {
      const cli = getFamily(n, {}).cli;
      return [cli?.selectors?.usage ?? '', cli?.kernels?.usage ?? ''];
    }));
  },
  async run(argv, ctx) {
    // The family decides which further options exist: read it first, then parse strictly.
    const family = getFamily(familyOf(argv), ctx.env);
    refuseOtherFamiliesOptions(argv, family.name, (f) => Object.keys({ ...f.cli?.selectors?.options, ...f.cli?.kernels?.options }));
    const cli = family.cli;
    const { values, positionals } = parse(
      argv,
      { family: { type: 'string', default: DEFAULT_FAMILY }, refresh: { type: 'boolean', default: false }, ...timeoutOption, ...cli?.selectors?.options, ...cli?.kernels?.options },
      true,
    );
    const [sub, ...extra] = positionals;
    if ((sub !== undefined && sub !== 'sync') || extra.length) throw new UsageError(`unexpected argument "${sub !== 'sync' ? sub : extra[0]}"\n${usage([])}`);
    const sync = sub === 'sync' || values.refresh === true;
    const paths = pathsFrom(values, ctx.env, { write: ['cache'] });
    if (cli?.kernels) {
      const net = () => netOptionsFrom({ timeout: values.timeout as string | undefined, json: values.json === true }, ctx, { progress: false });
      return cli.kernels.run({ sync, values, paths, env: ctx.env, json: values.json === true, out: ctx.stdout, err: ctx.stderr, net });
    }
    const session = await openSession(paths, ctx.env, (l) => ctx.stderr.write(`${l.trimEnd()}\n`), { timeout: values.timeout as string | undefined, json: values.json === true });
    try {
      const cat = await family.catalog(session, { refresh: sync });
      const list = cli?.selectors ? cli.selectors.select(cat.kernels, values) : cat.kernels;
      const states = await storeStates(paths.store, family.name);
      const state = (k: { kernelRelease: string }) => states.get(k.kernelRelease) ?? NOT_BUILT;
      if (values.json) {
        ctx.stdout.write(JSON.stringify({ family: family.name, ...cat, store: paths.store, kernels: list.map((k) => ({ ...k, stored: state(k).built, ...state(k) })) }, null, 2) + '\n');
        return 0;
      }
      ctx.stdout.write(`family ${family.name}, catalog read ${cat.fetchedAt}\n`);
      const w = Math.max(14, ...list.map((k) => k.kernelRelease.length));
      const sv = Math.max(14, ...list.map((k) => k.sourceVersion.length));
      ctx.stdout.write(`${'KERNEL'.padEnd(w)}  ${'SOURCE VERSION'.padEnd(sv)}  ${STATE_HEADER}\n`);
      for (const k of list) ctx.stdout.write(`${k.kernelRelease.padEnd(w)}  ${k.sourceVersion.padEnd(sv)}  ${stateColumns(state(k))}\n`);
      const n = (f: 'built' | 'verified' | 'proven') => list.filter((k) => state(k)[f]).length;
      ctx.stdout.write(`${n('built')} of ${list.length} in the store ${paths.store} (${n('verified')} verified, ${n('proven')} proven)\n`);
      for (const s of cat.skipped) ctx.stdout.write(`${s.kernelRelease.padEnd(w)}  (skipped: ${s.reason})\n`);
      return 0;
    } finally {
      session.close();
    }
  },
};
export default kernels;
