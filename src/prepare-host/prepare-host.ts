import type { Runner } from '../host/runner.ts';
import type { Plan, PlanResult } from '../host/plan.ts';
import { type HostFacts, gatherFacts } from '../host/facts.ts';
import { emitScript } from '../host/emit-script.ts';
import { hostLayout } from './layout.ts';
import { type ModuleOptions } from './options.ts';
import { prepareHostRules, judge } from './preconditions.ts';
import { planPrepareHost } from './plan-prepare-host.ts';
import { openArtifactSource, SourceError, type TrustOptions } from './artifact-source.ts';
import type { NetOptions } from '../fetch/index.ts';
import { hookLayout } from './kernel-hook/layout.ts';
import { FollowConfigError } from './kernel-hook/config.ts';
import { StoreCorruptError } from '../artifacts/store-layout.ts';
import { resolveArtifact, ArtifactError, type ResolvedArtifact } from './resolve-artifact.ts';
import { proofLine } from '../artifacts/proof-record.ts';

export interface PrepareHostRequest {
  runner: Runner;
  /**
   * run: execute through the runner (a DryRunRunner checks and prints instead); emit: only render
   * the script; plan: only the plan (a dry run for --kernel, where no host is asked).
   */
  mode: 'run' | 'emit' | 'plan';
  from: string;
  options: ModuleOptions;
  /** Plan for this kernel without asking the host (emit for a host you cannot reach yet). */
  kernelRelease?: string;
  generator?: string;
  /** Who the emitted script is for, in its header ("a host running kernel R ..."). */
  madeFor?: string;
  /** How an http(s) --from is trusted (signature pin, index pin, or the loud opt-out). */
  trust?: TrustOptions;
  /** Bounds and the waiting line of an http(s) --from (default: the fetch door's defaults, silent). */
  net?: NetOptions;
  /** Install the kernel hook and boot guard so kernel updates keep nbd (default true; --no-follow-kernels). */
  followKernels?: boolean;
  /** --require-proof: refuse an artifact not proven in its own kernel (nbdforge prove), here and in the kernel hook. */
  requireProof?: boolean;
}

/** What the report says of the artifact's proof. */
export interface ReportedProof {
  line: string;
  key: string;
  kernelRelease: string;
  date: string;
}

export interface PrepareHostReport {
  target: string;
  kernelRelease?: string;
  facts?: HostFacts;
  artifact?: { source: string; dir: string; sha256: string; vermagic: string; key: string; signer?: { subject: string; fingerprint: string }; proven: boolean; proof?: ReportedProof };
  result: PlanResult;
  plan?: Plan;
  script?: string;
}

/** Facts, then judgement, then artifact, then plan, then run: nothing touches the host before the run. */
export async function prepareHost(req: PrepareHostRequest): Promise<PrepareHostReport> {
  const t0 = Date.now();
  const target = req.runner.target;
  const stop = (outcome: 'refused' | 'nothing-to-do', message: string, extra: Partial<PrepareHostReport> = {}): PrepareHostReport => ({
    target,
    ...extra,
    result: { plan: 'prepare-host', runner: req.runner.name, outcome, message, steps: [], ms: Date.now() - t0 },
  });

  const facts = req.kernelRelease && req.mode !== 'run' ? undefined : await gatherFacts(req.runner);
  const kernelRelease = req.kernelRelease ?? facts!.kernelRelease;
  const layout = hostLayout(kernelRelease);
  const needsBase64 = req.mode !== 'run' || req.runner.sendsScripts === true;
  const tools = ['modprobe', 'depmod', 'modinfo', 'sha256sum', ...(needsBase64 ? ['base64'] : [])];
  if (facts && req.mode === 'run') {
    const early = judge(prepareHostRules(layout, undefined, tools), facts);
    if (early) return stop(early.rule.otherwise === 'refuse' ? 'refused' : 'nothing-to-do', early.message, { kernelRelease, facts });
  }

  let artifact: ResolvedArtifact;
  try {
    artifact = await resolveArtifact(openArtifactSource(req.from, req.trust, req.net), kernelRelease, { hostVermagic: facts?.kernelRelease === kernelRelease ? facts.vermagic : undefined });
  } catch (err) {
    if (err instanceof ArtifactError || err instanceof SourceError || err instanceof StoreCorruptError) return stop('refused', err.message, { kernelRelease, facts });
    throw err;
  }
  const p = artifact.proof;
  const art = {
    source: artifact.source, dir: artifact.entry.dir, sha256: artifact.sha256, vermagic: artifact.vermagic, key: artifact.entry.key, ...(artifact.signer ? { signer: artifact.signer } : {}),
    proven: !!p, ...(p ? { proof: { line: proofLine(p), key: p.key, kernelRelease: p.kernelRelease, date: p.date } } : {}),
  };
  // Before the host is touched (nothing has run yet): the same refusal in a run, a dry run and an emitted script.
  if (req.requireProof && !p)
    return stop('refused', `${artifact.source}: ${artifact.entry.dir}/${artifact.entry.file} is not proven in its own kernel (no proof.json; nbdforge prove makes one) and --require-proof is set`, { kernelRelease, facts, artifact: art });
  if (facts && req.mode === 'run') {
    const late = judge(prepareHostRules(layout, artifact.sha256, tools, artifact.signer !== undefined), facts);
    if (late) return stop(late.rule.otherwise === 'refuse' ? 'refused' : 'nothing-to-do', late.message, { kernelRelease, facts, artifact: art });
  }

  const follow =
    req.followKernels === false
      ? undefined
      : {
          layout: hookLayout(),
          config: {
            from: req.from,
            fingerprint: req.trust?.fingerprint,
            indexSha256: req.trust?.indexSha256,
            insecureNoSignature: req.trust?.insecureNoSignature,
            family: artifact.entry.family,
            options: req.options,
            preparedFor: kernelRelease,
            requireProof: req.requireProof,
          },
        };
  if (follow && !/^https?:\/\//i.test(req.from) && (req.mode !== 'run' || req.runner.sendsScripts === true))
    req.trust?.warn?.(
      `warning: the kernel hook will fetch new kernels' modules from ${req.from}, a directory on the machine running nbdforge;` +
        ' unless the host has the same store at that path, publish it (nbdforge publish --to dir:...) and pass --from URL --fingerprint FPR, or use --no-follow-kernels',
    );
  let plan;
  try {
    plan = planPrepareHost({ layout, artifact, options: req.options, needsBase64, follow });
  } catch (err) {
    if (err instanceof FollowConfigError) return stop('refused', `${err.message} (or pass --no-follow-kernels)`, { kernelRelease, facts, artifact: art });
    throw err;
  }
  if (req.mode !== 'run') {
    const script = req.mode === 'emit' ? emitScript(plan, { generator: req.generator, madeFor: req.madeFor, module: p ? proofLine(p) : 'not proven in its own kernel' }) : undefined;
    const runner = req.mode === 'emit' ? 'emit-script' : 'dry-run';
    const result: PlanResult = { plan: plan.id, runner, outcome: 'dry-run', steps: plan.steps.map((s) => ({ id: s.id, describe: s.describe, status: 'planned' })), ms: Date.now() - t0 };
    return { target, kernelRelease, facts, artifact: art, result, plan, ...(script === undefined ? {} : { script }) };
  }
  const result = await req.runner.run(plan);
  return { target, kernelRelease, facts, artifact: art, result: { ...result, ms: Date.now() - t0 }, plan };
}
