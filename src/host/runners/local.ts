import { shell } from '../../doors/exec.ts';
import type { Plan, PlanResult } from '../plan.ts';
import { type Runner, type ExecOptions, type ExecResult, HostCommandError, callSite } from '../runner.ts';
import { executePlan } from '../execute.ts';
import { acquireLock } from '../lock.ts';

/** Runs commands on this machine through the process door (zx quotes), one argv at a time (no shell string is ever built by hand). */
export class LocalRunner implements Runner {
  readonly name = 'local';
  readonly target = 'local';
  constructor(private readonly opts: { log?: (line: string) => void; env?: NodeJS.ProcessEnv } = {}) {}

  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const p = await shell({
      nothrow: true,
      env: this.opts.env ?? process.env,
      input: opts.stdin ? Buffer.from(opts.stdin) : '',
    })`${argv}`;
    const r: ExecResult = { exitCode: p.exitCode ?? 128 + 9, stdout: p.stdout, stderr: p.stderr };
    if (r.exitCode !== 0 && !opts.nothrow) throw new HostCommandError(argv, r.exitCode, r.stderr, this.target, callSite());
    return r;
  }

  /**
   * Ctrl-C or a TERM while a plan runs must not leave a half-changed host: the signal is recorded
   * (the running command, in the same process group, fails and is handled as a failure), no further
   * step starts, and completed steps are undone before the process exits.
   */
  async run(plan: Plan): Promise<PlanResult> {
    let interrupted = false;
    const onSignal = () => {
      interrupted = true;
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      return await executePlan(plan, (a, o) => this.exec(a, o), this.name, { lock: acquireLock, log: this.opts.log, interrupted: () => interrupted });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}
