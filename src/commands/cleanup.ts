import { type Command, parse, pathsFrom, UsageError } from './context.ts';
import fs from 'node:fs/promises';
import path from 'node:path';
import { closeEngine, connectEngine, removeLeftoverContainers, type Leftover } from '../docker/engine.ts';
import { EngineUnreachableError } from '../docker/errors.ts';
import { leftoverScratch } from '../builder/scratch.ts';
import { leftoverResults } from '../builder/shared-builders.ts';

const usage = `Usage: nbdforge cleanup [--builders] [--all] [--json]

Removes what nbdforge left behind: every container it starts is labelled with the process that
started it, and a container whose process is gone (killed with -9, crashed, the machine rebooted)
is removed; so is a build's scratch directory (/tmp/nbdforge-<kernel>-XXXXXX, stamped with its
owner) or results directory ($NBDFORGE_HOME/cache/builders/<key>-<pid>-...) whose process is gone.
Containers of runs still going are left alone unless --all; scratch directories of running builds
always are. A builder container kept between builds (NBDFORGE_BUILDER_IDLE, default 60 s after its
last build) ends by itself; one that stopped is removed, a running one only with --builders or --all
(a build using it at that moment starts again in a fresh container).
When no Docker engine answers (DOCKER_HOST, or /var/run/docker.sock), the scratch directories are
still removed and cleanup says that containers could not be checked: run it again once the engine
runs (a stopped engine runs no containers, but keeps the ones left behind).
(Mapped images are cleaned up with: nbdforge unmap --all.)

Options:
  --builders  also stop the builder containers kept between builds, now
  --all       also remove containers of runs that are still going (and the kept builders)
  --cache DIR the cache whose builders/ results directories are checked (default $NBDFORGE_HOME/cache)
  --json      machine-readable list of what was removed

Examples:
  nbdforge cleanup
      after a build was killed with kill -9: its container and its /tmp scratch go
  nbdforge cleanup --builders
      stop the builder kept after the last build instead of waiting for its idle time
  nbdforge cleanup --all --json
      also stop and remove the containers of builds still running, and list them as JSON

Exit status: 0 done (also when the engine could not be asked: that is said on stderr), 1 something
could not be removed, 2 usage.`;

const cleanup: Command = {
  summary: 'Remove containers and build scratch left behind by killed or crashed runs',
  usage,
  async run(argv, ctx) {
    const { values, positionals } = parse(argv, { all: { type: 'boolean', default: false }, builders: { type: 'boolean', default: false } }, true);
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"\n${usage}`);
    const paths = pathsFrom(values, ctx.env);
    let gone: Leftover[] = [];
    let unchecked: string | undefined;
    try {
      const docker = await connectEngine(ctx.env);
      gone = await removeLeftoverContainers(docker, { all: values.all, builders: values.builders }).finally(() => closeEngine(docker));
    } catch (err) {
      if (!(err instanceof EngineUnreachableError)) throw err;
      unchecked = err.message;
    }
    const scratch = [];
    const failed: Array<{ path: string; error: string }> = [];
    for (const s of [...(await leftoverScratch()), ...(await leftoverResults(path.join(paths.cache, 'builders')))]) {
      try {
        await fs.rm(s.path, { recursive: true, force: true });
        scratch.push(s);
      } catch (err) {
        failed.push({ path: s.path, error: (err as Error).message });
      }
    }
    const note = unchecked && `containers were not checked: ${unchecked.replace(/ Start it with[\s\S]*$/, '')} Run nbdforge cleanup again once the engine runs.`;
    if (values.json) {
      ctx.stdout.write(JSON.stringify({ removed: gone, scratch, containersChecked: !unchecked, ...(unchecked ? { containersNotChecked: unchecked } : {}), failed }, null, 2) + '\n');
    } else {
      if (gone.length === 0 && scratch.length === 0 && failed.length === 0) ctx.stdout.write(unchecked ? 'no build scratch to clean up\n' : 'nothing to clean up\n');
      for (const c of gone) ctx.stdout.write(`removed ${c.id} ${c.role || c.name} (${c.state}${c.pid ? `, owner pid ${c.pid} gone` : ''})\n`);
      for (const s of scratch) ctx.stdout.write(`removed ${s.path} (build scratch, owner pid ${s.pid} gone)\n`);
    }
    if (note) ctx.stderr.write(`nbdforge cleanup: ${note}\n`);
    for (const f of failed) ctx.stderr.write(`nbdforge cleanup: could not remove ${f.path}: ${f.error}\n`);
    return failed.length ? 1 : 0;
  },
};
export default cleanup;
