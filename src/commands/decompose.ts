import { type Command, parse, UsageError } from './context.ts';
import { targetOptions, targetFrom, finish, TARGET_USAGE, generatorOf } from './host-cli.ts';
import { checkName } from '../compose/request.ts';
import { runDecompose } from '../compose/run.ts';

const usage = `Usage: nbdforge decompose NAME | --all [--json]

Takes apart what \`nbdforge compose\` made: removes /dev/mapper/NAMEp1 and /dev/mapper/NAME (only
while their device-mapper uuid is the composite's), detaches the head and tail loop devices, deletes
the head and tail files. It follows the journal compose wrote before and after each action, newest
first, checking each undo first, so it is exact after a kill -9 or a reboot. The volume is never
touched. A composite still in use (mounted, exported) is refused by the kernel and its journal kept.

Options:
  --all             every composite on the target
${TARGET_USAGE}

Examples:
  nbdforge decompose data-disk
  nbdforge decompose --all --json

Exit status: 0 done (or nothing composed with --all), 1 an undo failed or no such composite, 2 usage.`;

const decomposeCommand: Command = {
  summary: 'Take a composite apart exactly, from its journal (also after kill -9 or a reboot)',
  usage,
  async run(argv, ctx) {
    const { values, positionals } = parse(argv, { ...targetOptions, all: { type: 'boolean', default: false } }, true);
    if (values.all ? positionals.length !== 0 : positionals.length !== 1) throw new UsageError('give one NAME, or --all');
    if (!values.all) checkName(positionals[0]);
    const t = targetFrom(values, ctx, 'decompose');
    const out = await runDecompose(t.runner, t.stateDir, values.all ? { all: true } : { name: positionals[0] }, t.mode, generatorOf(ctx.version, 'decompose', argv));
    return finish(ctx, t, { plan: out.plan, result: out.result, script: out.script, preview: out.preview }, values.json!, () => `${(out.summary ?? ['done']).join('\n')}\n`, () => ({ summary: out.summary }));
  },
};
export default decomposeCommand;
