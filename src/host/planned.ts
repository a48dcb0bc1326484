import type { Plan, PlanResult } from './plan.ts';

/** The result of a plan emitted as a script instead of run: every step planned, nothing done. MS: the time it took to plan. */
export const planned = (plan: Plan, ms = 0): PlanResult => ({
  plan: plan.id,
  runner: 'emit-script',
  outcome: 'dry-run',
  steps: plan.steps.map((s) => ({ id: s.id, describe: s.describe, status: 'planned' })),
  ms,
});
