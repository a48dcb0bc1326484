import type { Plan, PlanResult } from '../plan.ts';
import type { Runner, ExecOptions, ExecResult } from '../runner.ts';
import { shJoin } from '../quote.ts';
import { checkPreconditions } from '../execute.ts';

/**
 * Runs nothing that changes the target: evaluates the plan's preconditions through the inner runner
 * (read-only checks, the same ones a real run refuses with, stopping where it would stop) and
 * returns every step as planned. With `showCommands`, also prints each command quoted as a shell
 * would receive it (prepare-host's plan); map and its kin leave that to --emit-script (their steps
 * are shell programs of a few KB each). exec() is passed to the inner runner too: the facts a plan
 * is made from are read-only questions to the real host.
 */
export class DryRunRunner implements Runner {
  readonly name = 'dry-run';
  constructor(
    private readonly inner: Runner,
    private readonly write: (text: string) => void,
    private readonly showCommands = true,
  ) {}

  get target(): string {
    return this.inner.target;
  }

  get sendsScripts(): boolean | undefined {
    return this.inner.sendsScripts;
  }

  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult> {
    return this.inner.exec(argv, opts);
  }

  async run(plan: Plan): Promise<PlanResult> {
    const t0 = Date.now();
    if (this.showCommands) this.write(renderPlan(plan, this.inner.target));
    const { checks, stop } = await checkPreconditions(plan, (argv, opts) => this.inner.exec(argv, opts));
    return {
      plan: plan.id,
      runner: this.name,
      outcome: stop ? stop.outcome : 'dry-run',
      ...(stop ? { message: stop.message } : {}),
      checks,
      steps: plan.steps.map((s) => ({ id: s.id, describe: s.describe, status: 'planned' })),
      ms: Date.now() - t0,
    };
  }
}

/** The plan as people read it: every command quoted exactly as a shell would receive it. */
export function renderPlan(plan: Plan, target: string): string {
  const out = [`# plan ${plan.id} on ${target}: ${plan.title}`];
  if (plan.lock) out.push(`# lock: ${plan.lock}`);
  for (const p of plan.preconditions) out.push(`# require ${p.id} (${p.describe}; else ${p.otherwise}): ${shJoin(p.check)}`);
  plan.steps.forEach((s, i) => {
    out.push(`# ${i + 1}. ${s.id}: ${s.describe}${s.readOnly ? ' (check)' : ''}`);
    if (s.probe) out.push(`#    skip if: ${shJoin(s.probe)}`);
    out.push(`${s.stdin ? `<${s.stdin.length} bytes on stdin> ` : ''}${shJoin(s.command)}`);
    if (s.undo) out.push(`#    undo: ${shJoin(s.undo)}`);
  });
  return out.join('\n') + '\n';
}
