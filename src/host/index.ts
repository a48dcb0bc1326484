/** The host layer: the one door for commands run on a host (prepare-host, map, compose use it). */
export { type Plan, type PlanResult, type StepResult, type StepStatus, type Outcome, validatePlan, exitCodeOf } from './plan.ts';
export { type Step, type Precondition, shc } from './step.ts';
export { type Runner, type ExecOptions, type ExecResult, HostCommandError } from './runner.ts';
export { executePlan } from './execute.ts';
export { emitScript } from './emit-script.ts';
export { parseRecords } from './records.ts';
export { shQuote, shJoin } from './quote.ts';
export { acquireLock, type HostLock } from './lock.ts';
export { LocalRunner } from './runners/local.ts';
export { SshRunner } from './runners/ssh.ts';
export { DryRunRunner, renderPlan } from './runners/dry-run.ts';
export { type HostFacts, gatherFacts, parseFacts, FACTS_SCRIPT } from './facts.ts';
export { renderTable } from './report.ts';
