import { type Command, parse, pathsFrom, UsageError } from './context.ts';
import { familyNames, getFamily } from '../families/index.ts';
import { LEFT_ALONE, takeInventory } from '../cache/inventory.ts';
import { du } from '../cache/du.ts';
import { prune } from '../cache/prune.ts';

const usage = `Usage: nbdforge cache du [--family F] [--json]
       nbdforge cache prune [--older-than DAYS] [--keep-latest N] [--dry-run] [--json]

The download cache ($NBDFORGE_HOME/cache) holds each kernel's source packages (about 140 MB per
debian12 ABI) and what builds derive from them (the unpacked kbuild tree, the module's sources, the
distribution's own module). Nothing in it is needed to load a built module; a build fetches again
what is missing. Neither subcommand needs Docker or the network: they read the cached catalogs.

du: per kernel, what the cache holds, what each entry is for and whether the store has an artifact
for that kernel; entries two kernels share are counted once and named with both; then what no
catalog kernel uses, what is kept whatever the kernels, and the totals.
  --family F          only this family's kernels (${familyNames().join(' | ')}; default all)

prune: removes what no stored artifact needs: entries used only by kernels the store has no
artifact for, and entries no catalog kernel uses. Never removed: anything outside the cache (links
are removed as links, never followed), the catalogs and apt lists that list kernels, the files of a
family with no cached catalog, and the test, VM, proof and builder results caches (${LEFT_ALONE.map((n) => `cache/${n}`).join(', ')}).
  --keep-latest N     keep the files of each family's N newest catalog kernels, stored or not (default 0)
  --older-than DAYS   remove only entries not modified in DAYS days
  --dry-run           list what would be removed and the bytes; remove nothing
Kept too: the files of a kernel being built now and .tmp-* extractions written within a day. A build
still fetching is not seen: prune may remove what it just fetched (the build fails; run it again).

Common:
  --cache DIR         the cache (default $NBDFORGE_HOME/cache)
  --store DIR         the store whose artifacts decide what is needed (default $NBDFORGE_HOME/store)
  --json              machine-readable output

Examples:
  nbdforge cache du
      every kernel with files in the cache, stored or not, and the totals
  nbdforge cache prune --keep-latest 2 --dry-run
      what would go, keeping the stored kernels' files and the 2 newest kernels of each family
  nbdforge cache prune --older-than 30
      remove what no stored artifact needs and nobody touched for 30 days

Exit status: 0 done (du listed; prune removed or nothing to remove), 1 an entry could not be
removed (the others were), 2 usage.`;

const nonNegative = (v: string | undefined, flag: string): number | undefined => {
  if (v === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(v)) throw new UsageError(`${flag} takes a number of ${flag === '--older-than' ? 'days' : 'kernels'} (0 or more), not ${JSON.stringify(v)}`);
  return Number(v);
};

const cache: Command = {
  summary: 'Show what the download cache holds per kernel (du), remove what no stored artifact needs (prune)',
  usage,
  async run(argv, ctx) {
    const { values, positionals } = parse(
      argv,
      { family: { type: 'string' }, 'older-than': { type: 'string' }, 'keep-latest': { type: 'string' }, 'dry-run': { type: 'boolean', default: false } },
      true,
    );
    const [sub, ...extra] = positionals;
    if (sub !== 'du' && sub !== 'prune') throw new UsageError(sub === undefined ? 'give a subcommand: nbdforge cache du | prune (see nbdforge cache --help)' : `unknown subcommand "${sub}": nbdforge cache du | prune`);
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const only = (flags: string[]) => {
      for (const f of flags) if (values[f as keyof typeof values] !== undefined && values[f as keyof typeof values] !== false) throw new UsageError(`--${f} goes with ${sub === 'du' ? 'cache prune' : 'cache du'}`);
    };
    const paths = pathsFrom(values, ctx.env, sub === 'prune' ? { write: ['cache'] } : {});
    // Every family is read even for --family: the content-addressed directory is shared between them.
    const families = familyNames().map((n) => getFamily(n, ctx.env));
    if (sub === 'du') {
      only(['older-than', 'keep-latest', 'dry-run']);
      if (values.family !== undefined) getFamily(values.family, ctx.env);
      const inv = await takeInventory(families, paths);
      return du(inv, values.family, values.json === true, ctx.stdout);
    }
    only(['family']);
    const olderThanDays = nonNegative(values['older-than'], '--older-than');
    const keepLatest = nonNegative(values['keep-latest'], '--keep-latest') ?? 0;
    if (!Number.isInteger(keepLatest)) throw new UsageError(`--keep-latest takes a whole number of kernels, not ${values['keep-latest']}`);
    const inv = await takeInventory(families, paths, { keepLatest });
    return prune(inv, { olderThanDays, keepLatest, dryRun: values['dry-run'] === true, json: values.json === true }, ctx);
  },
};
export default cache;
