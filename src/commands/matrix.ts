import os from 'node:os';
import { type Command, parse, pathsFrom, UsageError } from './context.ts';
import { runBuilds } from './run-builds.ts';
import { familyOf, refuseOtherFamiliesOptions } from './family-arg.ts';
import { DEFAULT_FAMILY, getFamily, familyNames } from '../families/index.ts';
import { signOptions, signUsage, signerFrom } from './sign-options.ts';
import { timeoutHelp, timeoutOption } from './net-options.ts';
import { DEFAULT_GUEST_TIMEOUT_S, proofsOptionsFrom } from './prove-options.ts';

const usage = `Usage: nbdforge matrix --family F [--kernels a,b | --latest N] [--missing] [--jobs N] [--force] [--sign-key KEY --sign-cert CERT] [--prove [--accel A]] [--timeout S] [--json] [family selectors]
       nbdforge matrix --family F [--missing] --list [--shards N] [--json]

Builds, verifies and stores the module for many kernels at once (every kernel of the family by
default). One failure does not stop the others; the exit code is non-zero when any kernel failed.
A live per-kernel view (stage, elapsed) is drawn on a terminal, plain lines otherwise.
Builds run as execs in one builder container per builder image, which stays up NBDFORGE_BUILDER_IDLE
seconds (default 60) after the last build for the next run, then ends by itself; with 0, one container
per worker, removed at the end. nbdforge cleanup --builders stops it now.

Options:
  --family F        ${familyNames().join(' | ')} (default ${DEFAULT_FAMILY})
  --kernels a,b     these kernel releases only
  --latest N        the N newest kernels
  --missing         only kernels with no artifact in the store yet
  --list            print the selection with what the store holds of each (built, verified,
                    proven) instead of building (--json: {kernels, shards, status})
  --shards N        with --list: split the selection into N comma-separated slices (CI runners)
  --jobs N          builds at once (default: number of CPUs)
  --module M        module spec (default nbd)
  --force           rebuild even when stored
  --no-oracle       skip the comparison with the distribution's own module
  --prove           then prove every stored module in its own kernel (see nbdforge prove --help;
                    each guest's deadline is ${DEFAULT_GUEST_TIMEOUT_S} s); a failed proof fails the kernel
  --accel A         with --prove: auto | kvm | tcg (default auto)
${signUsage}
${timeoutHelp(20)}
  --json            machine-readable summary on stdout

Examples:
  nbdforge matrix --latest 3
  nbdforge matrix --missing --jobs 2
  nbdforge matrix --latest 2 --prove
  nbdforge matrix --family el7 --release 7.9.2009 --json

Exit status: 0 every kernel built or cached (and with --prove, proven), 1 at least one failed (the
others are stored), 2 usage.`;

const matrix: Command = {
  summary: 'Build, verify and store a module for many kernels',
  get usage() {
    const sel = familyNames().map((n) => getFamily(n, {}).cli?.selectors?.usage).filter(Boolean);
    return sel.length ? `${usage}\nFamily selectors:\n${sel.join('\n')}` : usage;
  },
  async run(argv, ctx) {
    const family = familyOf(argv);
    refuseOtherFamiliesOptions(argv, family, (f) => Object.keys(f.cli?.selectors?.options ?? {}));
    const selectors = getFamily(family, ctx.env).cli?.selectors?.options ?? {};
    const { values } = parse(argv, {
      ...selectors,
      family: { type: 'string', default: DEFAULT_FAMILY },
      kernels: { type: 'string' },
      latest: { type: 'string' },
      jobs: { type: 'string' },
      module: { type: 'string', default: 'nbd' },
      force: { type: 'boolean', default: false },
      missing: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      shards: { type: 'string' },
      'no-oracle': { type: 'boolean', default: false },
      prove: { type: 'boolean', default: false },
      accel: { type: 'string' },
      ...signOptions,
      ...timeoutOption,
    });
    const signer = await signerFrom(values);
    if (values.kernels && values.latest) throw new UsageError('use --kernels or --latest, not both');
    const int = (name: string, v?: string) => {
      if (v === undefined) return undefined;
      if (!/^[1-9]\d*$/.test(v)) throw new UsageError(`--${name} must be a positive integer, got "${v}"`);
      return Number(v);
    };
    if (values.shards !== undefined && !values.list) throw new UsageError('--shards goes with --list');
    if (values.accel !== undefined && !values.prove) throw new UsageError('--accel goes with --prove');
    if (values.prove && values.list) throw new UsageError('--prove builds and proves; --list only lists: use one');
    const jobs = int('jobs', values.jobs) ?? os.availableParallelism();
    return runBuilds(
      {
        family: values.family!,
        module: values.module!,
        kernels: values.kernels?.split(',').map((s) => s.trim()).filter(Boolean),
        latest: int('latest', values.latest),
        selectors: Object.fromEntries(Object.keys(selectors).map((k) => [k, (values as Record<string, string | boolean | undefined>)[k]])),
        jobs,
        missing: values.missing!,
        list: values.list ? { shards: int('shards', values.shards) ?? 1 } : undefined,
        force: values.force!,
        oracle: !values['no-oracle'],
        signer,
        json: values.json!,
        timeout: values.timeout,
        prove: values.prove ? proofsOptionsFrom({ accel: values.accel, json: values.json, force: values.force }, jobs) : undefined,
      },
      pathsFrom(values, ctx.env, { write: ['cache', 'store'] }),
      ctx,
    );
  },
};
export default matrix;
