import { shell } from '../../doors/exec.ts';
import type { Plan, PlanResult } from '../plan.ts';
import { type Runner, type ExecOptions, type ExecResult, HostCommandError, callSite } from '../runner.ts';
import { emitScript } from '../emit-script.ts';
import { shJoin } from '../quote.ts';
import { parseRecords } from '../records.ts';

/**
 * Runs on a host that has only a POSIX shell: every command and every plan is rendered to sh and
 * piped to `ssh user@host sh -s`. No Node, no agent, nothing copied first. A plan runs as one
 * emitted script (emit-script.ts), so an ssh run and a hand-carried script behave the same.
 * `transport` is the argv that reads a script on stdin; tests use ['sh', '-s'].
 */
export class SshRunner implements Runner {
  readonly name = 'ssh';
  readonly sendsScripts = true;
  readonly target: string;
  private readonly transport: string[];

  constructor(
    destination: string,
    opts: { sshOptions?: string[]; transport?: string[]; log?: (line: string) => void } = {},
  ) {
    if (!/^[^\s-][^\s]*$/.test(destination)) throw new Error(`bad ssh destination ${JSON.stringify(destination)}`);
    this.target = `ssh ${destination}`;
    this.transport = opts.transport ?? ['ssh', '-o', 'BatchMode=yes', ...(opts.sshOptions ?? []), '--', destination, 'sh', '-s'];
    this.log = opts.log;
  }

  private readonly log?: (line: string) => void;

  /** Send a script; ssh itself failing (exit 255) is a transport error, not an answer. */
  private async send(script: string): Promise<ExecResult> {
    const p = await shell({ nothrow: true, input: script })`${this.transport}`;
    const r = { exitCode: p.exitCode ?? 137, stdout: p.stdout, stderr: p.stderr };
    if (r.exitCode === 255 && this.transport[0] === 'ssh') throw new HostCommandError(this.transport, 255, r.stderr, this.target, callSite());
    return r;
  }

  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    // The script arrives on the remote shell's stdin, so the command must never read it.
    const script = opts.stdin
      ? `nf_payload() {\nbase64 -d <<'NBDFORGE_PAYLOAD'\n${Buffer.from(opts.stdin).toString('base64').replace(/.{76}/g, '$&\n')}\nNBDFORGE_PAYLOAD\n}\nnf_payload | ${shJoin(argv)}\n`
      : `${shJoin(argv)} </dev/null\n`;
    const r = await this.send(script);
    if (r.exitCode !== 0 && !opts.nothrow) throw new HostCommandError(argv, r.exitCode, r.stderr, this.target, callSite());
    return r;
  }

  async run(plan: Plan): Promise<PlanResult> {
    const t0 = Date.now();
    const r = await this.send(emitScript(plan));
    if (this.log) for (const l of r.stderr.split('\n')) if (l) this.log(l.replace(/^\[nbdforge\] /, ''));
    return { ...parseRecords(plan, r.stdout, r.exitCode, this.name), ms: Date.now() - t0 };
  }
}
