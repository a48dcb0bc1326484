import { DEFAULT_FAMILY, familyNames } from '../families/index.ts';
import { type Command, parse, pathsFrom, UsageError } from './context.ts';
import { runBuilds } from './run-builds.ts';
import { signOptions, signUsage, signerFrom } from './sign-options.ts';
import { timeoutHelp, timeoutOption } from './net-options.ts';

const usage = `Usage: nbdforge build --family F --kernel RELEASE [--module nbd] [--force] [--no-oracle] [--sign-key KEY --sign-cert CERT] [--timeout S] [--json]

Builds the module for one kernel inside the family's builder container, verifies it (vermagic,
every import CRC against the kernel's Module.symvers and, where the distribution ships its own
module, byte equality of the code and data sections with it), and stores it. A build whose inputs are
already stored is not redone, and is answered without a Docker engine when the catalog is cached and
the builder image was recorded by an earlier run (see DOCKER_HOST in the README's Configuration).

Options:
  --family F        ${familyNames().join(' | ')} (default ${DEFAULT_FAMILY})
  --kernel R        kernel release, e.g. 6.1.0-56-amd64 (see: nbdforge kernels)
  --module M        module spec from kernels/modules/ (default nbd)
  --force           rebuild even when the same inputs are already stored
  --no-oracle       skip the comparison with the distribution's own module
${signUsage}
  --store DIR       artifact store (default $NBDFORGE_HOME/store)
${timeoutHelp(20)}
  --json            machine-readable summary on stdout

The builder container stays up NBDFORGE_BUILDER_IDLE seconds (default 60) after the build, so
the next build --force or matrix, from any process, reuses it (one exec instead of a container's
start and removal); it then ends by itself. NBDFORGE_BUILDER_IDLE=0 keeps none (a container of the
build's own, removed when it ends); nbdforge cleanup --builders stops it now.

Examples:
  nbdforge build --kernel 6.1.0-57-amd64
  nbdforge build --family el7 --kernel 3.10.0-1160.119.1.el7.x86_64
  nbdforge build --kernel 6.1.0-57-amd64 --force --json

Exit status: 0 built (or already stored), 1 the build or a check failed (nothing stored), 2 usage.`;

const build: Command = {
  summary: 'Build, verify and store a module for one kernel',
  usage,
  async run(argv, ctx) {
    const { values } = parse(argv, {
      family: { type: 'string', default: DEFAULT_FAMILY },
      kernel: { type: 'string' },
      module: { type: 'string', default: 'nbd' },
      force: { type: 'boolean', default: false },
      'no-oracle': { type: 'boolean', default: false },
      ...signOptions,
      ...timeoutOption,
    });
    const signer = await signerFrom(values);
    if (!values.kernel) throw new UsageError(`--kernel is required\n${usage}`);
    return runBuilds(
      { family: values.family!, module: values.module!, kernels: [values.kernel], jobs: 1, force: values.force!, oracle: !values['no-oracle'], signer, json: values.json!, timeout: values.timeout },
      pathsFrom(values, ctx.env, { write: ['cache', 'store'] }),
      ctx,
    );
  },
};
export default build;
