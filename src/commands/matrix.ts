import os from 'node:os';
import { type Command, parse, pathsFrom, UsageError } from './context.ts';
import { runBuilds } from './run-builds.ts';
import { signOptions, signUsage, signerFrom } from './sign-options.ts';

const usage = `Usage: nbdforge matrix --family F [--release R] [--kernels a,b | --latest N] [--jobs N] [--force] [--sign-key KEY --sign-cert CERT] [--json]

Builds, verifies and stores the module for many kernels at once (every kernel of the family by
default). One failure does not stop the others; the exit code is non-zero when any kernel failed.
A live per-kernel view (stage, elapsed) is drawn on a terminal, plain lines otherwise.

Options:
  --family F        debian12 (default) | el7
  --release R       el7: the kernels of one point release, e.g. 7.9.2009
  --kernels a,b     these kernel releases only
  --latest N        the N newest kernels
  --jobs N          builds at once (default: number of CPUs)
  --module M        module spec (default nbd)
  --force           rebuild even when stored
  --no-oracle       skip the comparison with the distribution's own module
${signUsage}
  --json            machine-readable summary on stdout`;

const matrix: Command = {
  summary: 'Build, verify and store a module for many kernels',
  usage,
  async run(argv, ctx) {
    const { values } = parse(argv, {
      family: { type: 'string', default: 'debian12' },
      kernels: { type: 'string' },
      release: { type: 'string' },
      latest: { type: 'string' },
      jobs: { type: 'string' },
      module: { type: 'string', default: 'nbd' },
      force: { type: 'boolean', default: false },
      'no-oracle': { type: 'boolean', default: false },
      ...signOptions,
    });
    const signer = await signerFrom(values);
    if (values.kernels && values.latest) throw new UsageError('use --kernels or --latest, not both');
    const int = (name: string, v?: string) => {
      if (v === undefined) return undefined;
      if (!/^[1-9]\d*$/.test(v)) throw new UsageError(`--${name} must be a positive integer, got "${v}"`);
      return Number(v);
    };
    return runBuilds(
      {
        family: values.family!,
        module: values.module!,
        kernels: values.kernels?.split(',').map((s) => s.trim()).filter(Boolean),
        latest: int('latest', values.latest),
        release: values.release,
        jobs: int('jobs', values.jobs) ?? os.availableParallelism(),
        force: values.force!,
        oracle: !values['no-oracle'],
        signer,
        json: values.json!,
      },
      pathsFrom(values, ctx.env),
      ctx,
    );
  },
};
export default matrix;
