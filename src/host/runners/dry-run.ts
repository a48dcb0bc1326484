import type { Plan, PlanResult } from '../plan.ts';
import type { Runner, ExecOptions, ExecResult } from '../runner.ts';
import { shJoin } from '../quote.ts';

/**
 * Prints the plan instead of running it. exec() is passed to an inner runner because the facts a
 * plan is made from are read-only questions to the real host.
 */
export class DryRunRunner implements Runner {
  readonly name = 'dry-run';
  constructor(
    private readonly inner: Runner,
    private readonly write: (text: string) => void,
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
    this.write(renderPlan(plan, this.inner.target));
    return {
      plan: plan.id,
      runner: this.name,
      outcome: 'dry-run',
      steps: plan.steps.map((s) => ({ id: s.id, describe: s.describe, status: 'planned' })),
      ms: 0,
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
