import { type Command, parse, UsageError } from './context.ts';
import { runUnmap } from '../map/run.ts';
import type { UnmapTarget } from '../map/plan-unmap.ts';
import { targetOptions, targetFrom, targetPath, finish, TARGET_USAGE, generatorOf } from './host-cli.ts';

const usage = `Usage: nbdforge unmap IMAGE | DEVICE | --all [--json]

The exact reverse of map (and of export): unmount, remove the directories map made, deactivate the
VGs, rename a VG back where a --rw map renamed it, disconnect the nbd or loop device, stop servers.
It follows the journals map wrote before and after each action, newest first, and checks each undo
before it runs, so it is exact after a map was killed (kill -9) or the host rebooted. A journal
whose undo failed is kept: fix the cause (a busy mount) and run unmap again.

Options:
  --all             everything mapped or exported on the target
${TARGET_USAGE}

Examples:
  nbdforge unmap vm.qcow2
  nbdforge unmap --all --json
  nbdforge unmap --all --ssh root@host

Exit status: 0 done (or nothing mapped with --all), 1 an undo failed or nothing matches, 2 usage.`;

const unmapCommand: Command = {
  summary: 'Undo a map or export exactly, from its journal (also after kill -9 or a reboot)',
  usage,
  async run(argv, ctx) {
    const { values, positionals } = parse(argv, { ...targetOptions, all: { type: 'boolean', default: false } }, true);
    if (values.all ? positionals.length !== 0 : positionals.length !== 1) throw new UsageError('give one IMAGE or DEVICE, or --all');
    const t = targetFrom(values, ctx, 'unmap');
    const target: UnmapTarget = values.all ? { all: true } : positionals[0].startsWith('/dev/') ? { device: positionals[0] } : { image: targetPath(positionals[0], t, 'IMAGE') };
    const out = await runUnmap(t.runner, t.stateDir, target, t.mode, generatorOf(ctx.version, 'unmap', argv));
    return finish(ctx, t, out, values.json!, () => `${(out.summary ?? ['done']).join('\n')}\n`, () => ({ summary: out.summary }));
  },
};
export default unmapCommand;
