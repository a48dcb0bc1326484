/**
 * The publish run: what each target lacks (records, and the target's own word where it can tell),
 * then the re-hash of everything about to leave, then every target's check, and only then any
 * sending. A target that fails midway keeps what the others published on record.
 */
import type { PublishItem, PublishOutcome, PublishTarget } from './target.ts';
import { PublishRecords, proofField, type PublishRecord } from './records.ts';
import { proofLabel } from '../artifacts/proof-record.ts';
import { verifyItems } from './select.ts';

export interface PublishEvent {
  target: string;
  kernelRelease: string;
  stage: string;
  bytes?: number;
}

export interface PublishRequest {
  targets: PublishTarget[];
  items: PublishItem[];
  records: PublishRecords;
  /** Who signs (--gpg-key as given, '' for none): publishing with another key publishes again. */
  signer: string;
  progress?: (e: PublishEvent) => void;
  now?: () => Date;
}

export interface TargetSummary {
  target: string;
  kind: string;
  published: Array<PublishOutcome>;
  /** Kernel releases the target already had. */
  upToDate: string[];
  bytesSent: number;
  ms: number;
  error?: string;
  notes?: string[];
}

export interface PublishSummary {
  ok: boolean;
  nothingToPublish: boolean;
  targets: TargetSummary[];
  bytesSent: number;
  ms: number;
}

export async function runPublish(req: PublishRequest): Promise<PublishSummary> {
  const t0 = performance.now();
  const now = req.now ?? (() => new Date());
  const plan: Array<{ target: PublishTarget; send: PublishItem[]; upToDate: string[] }> = [];
  for (const target of req.targets) {
    const recorded = await req.records.forTarget(target.spec, req.signer);
    const holds = target.holds ? await target.holds(req.items) : undefined;
    // The same module with a proof it did not have when it went out (or another proof) goes out again.
    const has = (i: PublishItem) => {
      const r = recorded.get(i.entry.key);
      return r?.sha256 === i.entry.sha256 && r.proofSha256 === i.proof?.sha256 && (holds === undefined || holds.has(i.entry.key));
    };
    plan.push({ target, send: req.items.filter((i) => !has(i)), upToDate: req.items.filter(has).map((i) => i.entry.kernelRelease) });
  }
  const summary = (targets: TargetSummary[], nothing: boolean): PublishSummary => ({
    ok: targets.every((t) => !t.error),
    nothingToPublish: nothing,
    targets,
    bytesSent: targets.reduce((n, t) => n + t.bytesSent, 0),
    ms: Math.round(performance.now() - t0),
  });
  if (plan.every((p) => p.send.length === 0)) {
    return summary(plan.map((p) => ({ target: p.target.spec, kind: p.target.kind, published: [], upToDate: p.upToDate, bytesSent: 0, ms: 0 })), true);
  }

  const leaving = new Map<string, PublishItem>();
  for (const p of plan) for (const i of p.send) leaving.set(i.entry.key, i);
  await verifyItems([...leaving.values()]);
  for (const p of plan) if (p.send.length) await p.target.check(p.send);

  const done: TargetSummary[] = [];
  for (const p of plan) {
    const t1 = performance.now();
    const base = { target: p.target.spec, kind: p.target.kind, upToDate: p.upToDate };
    if (p.send.length === 0) {
      done.push({ ...base, published: [], bytesSent: 0, ms: 0 });
      continue;
    }
    try {
      const byKey = new Map(p.send.map((i) => [i.entry.key, i]));
      const outcomes = (await p.target.publish(p.send, (e) => req.progress?.({ target: p.target.spec, ...e }))).map((o) => {
        const proof = byKey.get(o.key)?.proof;
        return { ...o, proven: !!proof, ...(proof ? { proof: proofLabel(proof.record) } : {}) };
      });
      const at = now().toISOString();
      const recs: PublishRecord[] = outcomes.map((o) => {
        const item = byKey.get(o.key);
        return {
          target: p.target.spec,
          kind: p.target.kind,
          key: o.key,
          family: item?.entry.family ?? '',
          kernelRelease: o.kernelRelease,
          sha256: item?.entry.sha256 ?? '',
          ref: o.ref,
          signer: req.signer,
          bytesSent: o.bytesSent,
          publishedAt: at,
          ...(o.refSha256 ? { refSha256: o.refSha256 } : {}),
          ...(item ? proofField(item) : {}),
        };
      });
      await req.records.add(recs);
      done.push({ ...base, published: outcomes, bytesSent: outcomes.reduce((n, o) => n + o.bytesSent, 0), ms: Math.round(performance.now() - t1), notes: p.target.notes?.() });
    } catch (err) {
      done.push({ ...base, published: [], bytesSent: 0, ms: Math.round(performance.now() - t1), error: (err as Error).message });
    }
  }
  return summary(done, false);
}
