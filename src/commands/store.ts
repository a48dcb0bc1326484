import { type Command, parse, pathsFrom, UsageError } from './context.ts';
import { DirStore } from '../artifacts/dir-store.ts';
import { mergeStores, type MergeResult } from '../artifacts/store-merge.ts';

const usage = `Usage: nbdforge store merge SRC... [--into STORE] [--json]

Merges artifact stores built apart (a matrix split across CI runners, other machines) into one
(default: the local store, $NBDFORGE_HOME/store). Every artifact taken is re-hashed against its
manifest first; the same key twice is the same artifact and is kept once; for a kernel built with
other inputs the newer build wins. The sources are only read.

Options:
  --into STORE   the store to merge into (default $NBDFORGE_HOME/store)
  --json         what was merged, kept and refused, as JSON on stdout

Examples:
  nbdforge store merge shard-1/store shard-2/store --into published
  nbdforge store merge ci-artifacts/* --json

Exit status: 0 merged, 1 an artifact did not verify (the others are merged), 2 usage, 3 a source
is not a store or is corrupt (nothing merged from it).`;

const storeCommand: Command = {
  summary: 'Work on artifact stores: merge stores built apart into one',
  usage,
  async run(argv, ctx) {
    const { values, positionals } = parse(argv, { into: { type: 'string' } }, true);
    const [sub, ...sources] = positionals;
    if (sub !== 'merge') throw new UsageError(`${sub === undefined ? 'a subcommand is required' : `unknown subcommand "${sub}"`}\n${usage}`);
    if (sources.length === 0) throw new UsageError('give at least one source store to merge');
    const into = values.into ?? pathsFrom(values, ctx.env).store;
    const target = new DirStore(into, { onRepair: (m) => ctx.stderr.write(`nbdforge: store repaired: ${m}\n`) });
    const line = (r: MergeResult) => `${r.status.padEnd(7)}  ${r.family}/${r.kernelRelease}  ${r.key.slice(0, 12)}  ${r.source}${r.detail ? `: ${r.detail}` : ''}`;
    const results = await mergeStores(sources, target, values.json ? undefined : (r) => ctx.stdout.write(line(r) + '\n'));
    const count = (s: MergeResult['status']) => results.filter((r) => r.status === s).length;
    if (values.json) ctx.stdout.write(JSON.stringify({ into, results, counts: { added: count('added'), same: count('same'), older: count('older'), refused: count('refused') } }, null, 2) + '\n');
    else ctx.stdout.write(`\n${count('added')} added, ${count('same')} already there, ${count('older')} older than the target's, ${count('refused')} refused; store: ${into}\n`);
    return count('refused') ? 1 : 0;
  },
};
export default storeCommand;
