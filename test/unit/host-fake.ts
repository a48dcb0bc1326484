/** A host for prepare-host tests that never runs anything: canned facts, and the plans it was asked to run. */
import * as assert from 'uvu/assert';
import type { Runner, ExecResult } from '../../src/host/runner.ts';
import type { Plan, PlanResult } from '../../src/host/plan.ts';
import { FACTS_SCRIPT } from '../../src/host/facts.ts';

/** A host that answers the facts probe with canned facts and records the plan it is asked to run. */
export class FakeHost implements Runner {
  readonly name = 'fake';
  readonly target = 'fake-host';
  plans: Plan[] = [];
  constructor(private readonly facts: string) {}
  async exec(argv: string[]): Promise<ExecResult> {
    assert.equal(argv, ['sh', '-c', FACTS_SCRIPT], 'prepare-host asks the host nothing but the facts probe before running');
    return { exitCode: 0, stdout: this.facts, stderr: '' };
  }
  async run(plan: Plan): Promise<PlanResult> {
    this.plans.push(plan);
    return { plan: plan.id, runner: this.name, outcome: 'changed', steps: [], ms: 0 };
  }
}

export const DEB_VERMAGIC = (k: string) => `${k} SMP preempt mod_unload modversions `;

/** The facts of a clean Debian host running `kernel` as root, each `key=value` of `over` replacing its own. */
export function hostFacts(kernel: string, ...over: string[]): string {
  const base = [`kernel=${kernel}`, 'machine=x86_64', 'uid=0', `moddir=/lib/modules/${kernel}`, 'sig_enforce=N', 'modules_disabled=0', `vermagic=${DEB_VERMAGIC(kernel)}`,
    ...['modprobe', 'depmod', 'modinfo', 'sha256sum', 'base64'].map((t) => `tool=${t}=/usr/sbin/${t}`)];
  return [...base.filter((l) => !over.some((o) => o.split('=')[0] === l.split('=')[0])), ...over].join('\n') + '\n';
}
