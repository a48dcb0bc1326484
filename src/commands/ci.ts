import { type Command, parse, UsageError } from './context.ts';
import { DEFAULT_FAMILY, familyNames } from '../families/index.ts';
import { DEFAULT_CRON, githubWorkflow } from '../ci/github-workflow.ts';
import { writeScript } from './host-cli.ts';
import { visible } from '../util/control-chars.ts';

const usage = `Usage: nbdforge ci github [--family F] [--shards N] [--latest N] [--publish TARGET] [--cron EXPR] [--output FILE]

Writes a GitHub Actions workflow that keeps a family's modules current across runners: on a
schedule (and by hand), one job lists the kernels with no artifact in the published store
(nbdforge matrix --missing --list --shards N), a matrix of shard jobs builds one slice each into
its own store (the download cache kept between runs), and a last job merges the shard stores
(nbdforge store merge) into the published store and publishes it.

What to build:
  --family F        ${familyNames().join(' | ')} (default ${DEFAULT_FAMILY})
  --latest N        only the newest N kernels of the catalog (default: all)
  --shards N        build jobs at most (default 4)
When and where:
  --cron EXPR       schedule, UTC (default '${DEFAULT_CRON}'): five fields, each *, N, N-M, */S,
                    N-M/S or N,N,...; JAN-DEC and SUN-SAT in their fields
  --publish TARGET  where the merged store goes (default dir:site): dir:PATH | yum:DIR | apt:DIR with a
                    plain path (letters, digits, . _ - + /), or oci://HOST[:PORT]/REPO
  --output FILE     write here (default: stdout)

Examples:
  nbdforge ci github --output .github/workflows/nbdforge-${DEFAULT_FAMILY}.yml
      every ${DEFAULT_FAMILY} kernel, 4 shards, daily at 05:17 UTC, the tree published as an artifact (dir:site)
  nbdforge ci github --family el7 --latest 5 --shards 2 --cron '0 3 * * MON-FRI' --publish yum:repo
      the 5 newest CentOS 7 kernels, weekday nights, as a yum repository (workflow on stdout)
  nbdforge ci github --publish oci://ghcr.io/example/nbd --output .github/workflows/nbdforge.yml
      module images for KMM (nbdforge kmm-module --image ghcr.io/example/nbd writes the Module)

Exit status: 0 written, 1 FILE could not be written, 2 usage (an unknown family, a --publish that
is not a plain target, a --cron that is not five fields in range: nothing is written).`;

const ci: Command = {
  summary: 'Write a CI workflow (GitHub Actions) that builds missing kernels in shards, merges and publishes',
  usage,
  async run(argv, ctx) {
    const { values, positionals } = parse(
      argv,
      { family: { type: 'string', default: DEFAULT_FAMILY }, shards: { type: 'string', default: '4' }, latest: { type: 'string' }, publish: { type: 'string', default: 'dir:site' }, cron: { type: 'string', default: DEFAULT_CRON }, output: { type: 'string' } },
      true,
    );
    if (positionals[0] !== 'github' || positionals.length !== 1) throw new UsageError(`the only CI engine is github\n${usage}`);
    if (!familyNames().includes(values.family!)) throw new UsageError(`unknown family ${visible(values.family!)} (known: ${familyNames().join(', ')})`);
    const int = (flag: string, v: string) => {
      if (!/^[1-9][0-9]{0,2}$/.test(v)) throw new UsageError(`${flag} must be a whole number from 1 to 999, got ${visible(v)}`);
      return Number(v);
    };
    // --publish and --cron are checked where the workflow is written (workflow-values.ts: exit 2).
    const yaml = githubWorkflow({
      family: values.family!,
      shards: int('--shards', values.shards!),
      latest: values.latest === undefined ? undefined : int('--latest', values.latest),
      publish: values.publish!,
      cron: values.cron!,
      generator: `nbdforge ${ctx.version} ci github`,
    });
    if (values.output === undefined) ctx.stdout.write(yaml);
    else {
      const said = await writeScript(values.output, yaml, 0o644);
      ctx.stderr.write(`${said}\n`);
    }
    return 0;
  },
};
export default ci;
