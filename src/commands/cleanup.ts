import { type Command, parse, UsageError } from './context.ts';
import fs from 'node:fs/promises';
import { closeEngine, connectEngine, removeLeftoverContainers } from '../docker/engine.ts';
import { leftoverScratch } from '../build/scratch.ts';

const usage = `Usage: nbdforge cleanup [--all] [--json]

Removes what nbdforge left behind: every container it starts is labelled with the process that
started it, and a container whose process is gone (killed with -9, crashed, the machine rebooted)
is removed; so is a build's scratch directory (/tmp/nbdforge-<kernel>-XXXXXX, stamped with its
owner) whose process is gone. Containers of runs still going are left alone unless --all; scratch
directories of running builds always are.
(Mapped images are cleaned up with: nbdforge unmap --all.)

Options:
  --all     also remove containers of runs that are still going
  --json    machine-readable list of what was removed`;

const cleanup: Command = {
  summary: 'Remove containers and build scratch left behind by killed or crashed runs',
  usage,
  async run(argv, ctx) {
    const { values, positionals } = parse(argv, { all: { type: 'boolean', default: false } }, true);
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"\n${usage}`);
    const docker = await connectEngine(ctx.env);
    const gone = await removeLeftoverContainers(docker, { all: values.all }).finally(() => closeEngine(docker));
    const scratch = await leftoverScratch();
    for (const s of scratch) await fs.rm(s.path, { recursive: true, force: true });
    if (values.json) {
      ctx.stdout.write(JSON.stringify({ removed: gone, scratch }, null, 2) + '\n');
      return 0;
    }
    if (gone.length === 0 && scratch.length === 0) ctx.stdout.write('nothing to clean up\n');
    for (const c of gone) ctx.stdout.write(`removed ${c.id} ${c.role || c.name} (${c.state}${c.pid ? `, owner pid ${c.pid} gone` : ''})\n`);
    for (const s of scratch) ctx.stdout.write(`removed ${s.path} (build scratch, owner pid ${s.pid} gone)\n`);
    return 0;
  },
};
export default cleanup;
