import { type Command, parse, pathsFrom, UsageError } from './context.ts';
import { LocalRunner } from '../host/runners/local.ts';
import { SshRunner } from '../host/runners/ssh.ts';
import { DryRunRunner, renderPlan } from '../host/runners/dry-run.ts';
import type { Runner } from '../host/runner.ts';
import { exitCodeOf } from '../host/plan.ts';
import { renderTable, resultLine } from '../host/report.ts';
import { shQuote } from '../host/quote.ts';
import { checkSshDestination, writeScript, generatorOf } from './host-cli.ts';
import { prepareHost } from '../prepare-host/prepare-host.ts';
import { parseOptions, DEFAULT_OPTIONS } from '../prepare-host/options.ts';
import { netOptionsFrom, timeoutHelp, timeoutOption } from './net-options.ts';
import { followStatus, renderStatus } from '../prepare-host/kernel-hook/status.ts';

const usage = `Usage: nbdforge prepare-host [--from STORE|URL [--fingerprint FPR | --index-sha256 HEX]] [--options 'nbds_max=16 max_part=15'] [--require-proof]
                            [--ssh USER@HOST [--ssh-option O]...] [--dry-run | --emit-script FILE] [--kernel RELEASE] [--no-follow-kernels] [--timeout S] [--json]
       nbdforge prepare-host --status [--ssh USER@HOST] [--json]

Installs the store's nbd.ko for the host's running kernel into /lib/modules/<release>/extra/,
runs depmod, loads it with the options, persists them (modprobe.d, modules-load.d) and checks
/dev/nbd0 and /sys/module/nbd/parameters, and (unless --no-follow-kernels) installs a kernel
hook and a boot guard so kernel updates keep nbd. Every step is probed first, so a second run changes
nothing; a failing step undoes what the run did; a lock keeps two runs on one host apart.

Options:
  --from S          artifact store: a directory or an http(s) URL of one (default: --store); a URL is
                    a tree written by nbdforge publish --to dir, whose index.json must verify:
  --fingerprint F   index.json.sig must be made by this key (the one publish --gpg-key used)
  --index-sha256 H  or: index.json must have this sha256
                    (NBDFORGE_INSECURE_NO_SIGNATURE=1 takes an unverified index, with a warning)
                    A published index carries a serial and an expiry: an expired one, or one with a
                    lower serial than this machine accepted from that URL before (a replayed older
                    tree), is refused; the highest serial per URL is kept, as install.sh keeps it, in
                    $NBDFORGE_STATE_DIR/serials/ (default /var/lib/nbdforge/serials/)
  --options O       nbd module options (default '${DEFAULT_OPTIONS}'; '' for none)
  --require-proof   install only a module proven in its own kernel (nbdforge prove booted that
                    kernel, loaded these exact bytes and moved data through /dev/nbd0; its
                    proof.json travels with the module): an unproven one is refused (exit 3) before
                    the host is touched, in a run, --dry-run and --emit-script alike, and the kernel
                    hook keeps the rule (require_proof in its configuration). Without it the proof is
                    shown ("proof: proven in K on D ..." or "not proven in its own kernel"); a proof
                    that is damaged or not the module's own is refused either way
  --ssh DEST        run on DEST over ssh: the host needs only sh and the usual tools, not Node
  --ssh-option O    passed to ssh as -o O (repeatable), e.g. Port=2222 or IdentityFile=~/.ssh/k
  --dry-run         change nothing: read the host's facts, run the plan's checks there and print
                    the steps that would run (exit 3 where a real run would refuse)
  --emit-script F   write the plan as a standalone POSIX sh script to F ('-' for stdout);
                    with --kernel, no host is asked at all
  --kernel R        with --dry-run or --emit-script: plan for kernel release R instead of the
                    host's running kernel (no host is asked: what would be installed for R)
${timeoutHelp(20)}
  --no-follow-kernels
                    do not install the kernel hook (/etc/kernel/postinst.d/nbdforge-nbd, postrm.d,
                    /etc/nbdforge/kernel-hook.conf) and boot guard (nbdforge-nbd-guard.service) that
                    give every kernel this host installs later its module from the same source
  --status          read-only: for every kernel installed on the host, whether it has nbd.ko and how
                    (exact, reused with its CRC evidence, shipped, missing), and whether the kernel
                    hook and the boot guard are in place (works with --ssh and --json)
  --json            the report as JSON on stdout

Examples:
  nbdforge prepare-host                                       # this host, from the local store
  nbdforge prepare-host --from https://mirror.example.org/nbd --fingerprint FPR \\
      --kernel 3.10.0-1160.119.1.el7.x86_64 --emit-script prepare.sh   # then: ssh root@host sh < prepare.sh
  nbdforge prepare-host --dry-run --kernel 3.10.0-1160.119.1.el7.x86_64   # what would be installed for it
  nbdforge prepare-host --status --ssh root@host

Exit status: 0 done / already done / nothing to do, 1 a step failed (undone), 2 usage, 3 refused.`;

const prepareHostCommand: Command = {
  summary: 'Install and load the stored nbd.ko on this host (or over ssh, or as a script)',
  usage,
  async run(argv, ctx) {
    const { values } = parse(argv, {
      from: { type: 'string' },
      options: { type: 'string', default: DEFAULT_OPTIONS },
      ssh: { type: 'string' },
      'ssh-option': { type: 'string', multiple: true },
      'dry-run': { type: 'boolean', default: false },
      'emit-script': { type: 'string' },
      kernel: { type: 'string' },
      fingerprint: { type: 'string' },
      'index-sha256': { type: 'string' },
      ...timeoutOption,
      'no-follow-kernels': { type: 'boolean', default: false },
      status: { type: 'boolean', default: false },
      'require-proof': { type: 'boolean', default: false },
    });
    const net = netOptionsFrom(values, ctx, { prefix: '[prepare-host] ' });
    if (values['index-sha256'] !== undefined && !/^[0-9a-fA-F]{64}$/.test(values['index-sha256'])) throw new UsageError('--index-sha256 takes 64 hex digits');
    if (values.fingerprint !== undefined && !/^[0-9A-Fa-f]{40}$/.test(values.fingerprint.replace(/\s+/g, ''))) throw new UsageError('--fingerprint takes a 40-hex-digit OpenPGP fingerprint');
    const options = parseOptions(values.options!);
    const emit = values['emit-script'];
    if (emit !== undefined && values['dry-run']) throw new UsageError('--dry-run and --emit-script exclude each other');
    if (emit === '-' && values.json) throw new UsageError('--emit-script - and --json would both write to stdout');
    if (values.kernel && emit === undefined && !values['dry-run']) throw new UsageError('--kernel goes with --dry-run or --emit-script (a run always plans for the running kernel)');
    const from = values.from ?? pathsFrom(values, ctx.env).store;
    const log = values.json ? undefined : (l: string) => ctx.stderr.write(`[prepare-host] ${l}\n`);
    if (values['ssh-option'] && !values.ssh) throw new UsageError('--ssh-option goes with --ssh');
    if (values.ssh !== undefined) checkSshDestination(values.ssh);
    const sshOptions = (values['ssh-option'] ?? []).flatMap((o) => ['-o', o]);
    const base: Runner = values.ssh ? new SshRunner(values.ssh, { log, sshOptions }) : new LocalRunner({ log });
    if (values.status) {
      if (values['dry-run'] || emit !== undefined || values.kernel || values['require-proof']) throw new UsageError('--status only reads the host: it goes with --ssh and --json alone');
      const st = await followStatus(base);
      if (values.json) ctx.stdout.write(JSON.stringify({ target: base.target, ...st }, null, 2) + '\n');
      else ctx.stdout.write(renderStatus(base.target, st));
      return 0;
    }
    const runner = values['dry-run'] ? new DryRunRunner(base, (t) => (values.json ? ctx.stderr : ctx.stdout).write(t)) : base;
    const mode = emit !== undefined ? 'emit' : values['dry-run'] && values.kernel ? 'plan' : 'run';

    const report = await prepareHost({
      runner,
      mode,
      from,
      options,
      kernelRelease: values.kernel,
      generator: generatorOf(ctx.version, 'prepare-host', argv),
      madeFor: values.kernel ? `a host running kernel ${values.kernel} (no host was asked: --kernel)` : `${base.target}, whose facts it was planned from`,
      net,
      followKernels: !values['no-follow-kernels'],
      requireProof: values['require-proof'],
      trust: {
        fingerprint: values.fingerprint,
        indexSha256: values['index-sha256'],
        insecureNoSignature: ctx.env.NBDFORGE_INSECURE_NO_SIGNATURE === '1',
        stateDir: ctx.env.NBDFORGE_STATE_DIR || undefined,
        warn: (m) => ctx.stderr.write(`[prepare-host] ${m}\n`),
      },
    });
    let wrote = '';
    if (report.script !== undefined) {
      if (emit === '-') ctx.stdout.write(report.script);
      else wrote = await writeScript(emit!, report.script);
    }
    const code = exitCodeOf(report.result.outcome);
    if (values.json) {
      const { plan: _plan, script: _script, ...rest } = report;
      ctx.stdout.write(JSON.stringify({ ...rest, exitCode: code }, null, 2) + '\n');
      return code;
    }
    if (mode === 'plan' && report.plan) (values.json ? ctx.stderr : ctx.stdout).write(renderPlan(report.plan, `a host running ${values.kernel}`));
    const kernel = report.kernelRelease ?? '?';
    const title =
      mode === 'emit'
        ? `prepare-host script for kernel ${kernel} (${values.kernel ? 'no host was asked: --kernel' : `planned from ${report.target}'s facts`})`
        : mode === 'plan'
          ? `prepare-host dry run for kernel ${kernel} (no host was asked: --kernel)`
          : `prepare-host${values['dry-run'] ? ' dry run' : ''} on ${report.target}: kernel ${kernel}`;
    const header = [
      title,
      ...(report.artifact ? [`artifact: ${report.artifact.source} ${report.artifact.dir} (sha256 ${report.artifact.sha256.slice(0, 12)}, vermagic "${report.artifact.vermagic}")`] : []),
      ...(report.artifact ? [`proof: ${report.artifact.proof ? report.artifact.proof.line : 'not proven in its own kernel (no proof.json; nbdforge prove makes one)'}`] : []),
    ];
    const out = emit === '-' ? ctx.stderr : ctx.stdout;
    if (report.result.steps.length === 0) {
      out.write(`${header.join('\n')}\n${report.result.runner === 'dry-run' ? resultLine(report.result) : `result: ${report.result.outcome}: ${report.result.message}`}\n`);
    } else {
      out.write(renderTable(report.result, header));
      if (wrote) out.write(`${wrote}: run it as root on a host with kernel ${report.kernelRelease} (sh ${shQuote(emit!)})\n`);
    }
    return code;
  },
};
export default prepareHostCommand;
