/**
 * Prove one stored artifact in its own kernel: the family supplies the kernel (vmlinuz and module
 * tree of the package the catalog pins), a guest boots it with the store's exact module bytes in its
 * share, the guest's report becomes a ProofRecord. A proven record goes to the prove cache and into
 * the store beside the module; a failed one only to the cache (for inspection), never the store.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BootKernel, Family, FamilyContext, KernelEntry } from '../families/family.ts';
import { NoBootKernelError } from '../families/family.ts';
import type { DirStore, IndexEntry } from '../artifacts/dir-store.ts';
import { readRegular } from '../util/read-regular.ts';
import { sha256 } from '../util/hash.ts';
import { parseElf } from '../verify/elf.ts';
import { readModinfo } from '../verify/modinfo.ts';
import { buildInitramfs } from '../guest/initramfs.ts';
import { bootGuest } from '../guest/qemu.ts';
import type { GuestKernel } from '../guest/kernel.ts';
import { PROOF_VERSION, proofKey, readStoredProof, writeStoredProof, type ProofRecord } from '../artifacts/proof-record.ts';
import { completeChecks, parseGuestReport, reportLines, taintText, type GuestReport } from './verdict.ts';
import { writeShare } from './share.ts';
import { cachedProof, rememberProof } from './proof-cache.ts';
import type { Accel } from './accel.ts';

export type ProveStage = 'kernel' | 'initramfs' | 'boot' | 'record';

export interface ProveEnv {
  family: Family;
  ctx: FamilyContext;
  store: DirStore;
  /** <cache>/prove: initramfs images, the proof cache, the accelerator's trial. */
  cacheDir: string;
  /** QEMU's version and the accelerator, settled once by the first proof that boots (it may need a trial guest). */
  qemu: (guest: { kernel: GuestKernel; initramfs: string }) => Promise<{ version: string; accel: Accel }>;
  timeoutMs: number;
  force: boolean;
  toolVersion: string;
}

export interface ProveOutcome {
  kernelRelease: string;
  /** proven: a new proof; cached: the same key was proven before (no boot); failed: a check failed; unproven: the family cannot supply the kernel. */
  status: 'proven' | 'cached' | 'failed' | 'unproven';
  record?: ProofRecord;
  /** For unproven and failed: why, in one line. */
  reason?: string;
  /** Host time from QEMU's start to its end (a boot), 0 otherwise. */
  bootMs: number;
}

const MAX_MODULE = 64 << 20;

export async function proveOne(env: ProveEnv, kernel: KernelEntry, entry: IndexEntry, onStage: (s: ProveStage) => void = () => {}): Promise<ProveOutcome> {
  const base = { kernelRelease: entry.kernelRelease, bootMs: 0 };
  const module = await readRegular(env.store.artifactPath(entry), { maxBytes: MAX_MODULE });
  if (sha256(module) !== entry.sha256) throw new Error(`${env.store.artifactPath(entry)}: its bytes do not hash to the sha256 the store's index names (damaged artifact: rebuild it with build --force)`);
  onStage('kernel');
  const boot = supplied(env, kernel);
  if ('unproven' in boot) return { ...base, status: 'unproven', reason: boot.unproven };
  const key = proofKey(entry.sha256, boot.package.sha256, PROOF_VERSION);
  const hit = env.force ? undefined : await alreadyProven(env, entry, key);
  if (hit) return { ...base, status: 'cached', record: hit };
  const guest = await bootProof(env, boot, module, entry.file, onStage);
  const record: ProofRecord = {
    schema: 1,
    proofVersion: PROOF_VERSION,
    key,
    verdict: guest.checks.every((c) => c.ok) ? 'proven' : 'failed',
    family: entry.family,
    kernelRelease: entry.kernelRelease,
    kernelPackage: boot.package,
    module: { file: entry.file, sha256: entry.sha256 },
    qemu: guest.qemu,
    checks: guest.checks,
    dmesg: guest.report.dmesg,
    taint: guest.report.taint ? taintText(guest.report.taint.after) : 'unknown (the guest never said)',
    signature: signatureOf(guest.report),
    date: new Date().toISOString(),
    nbdforge: env.toolVersion,
  };
  await rememberProof(env.cacheDir, record);
  if (record.verdict !== 'proven') {
    const first = guest.checks.find((c) => !c.ok)!;
    return { ...base, status: 'failed', record, reason: `${first.name}: ${first.detail}`, bootMs: guest.bootMs };
  }
  await writeStoredProof(env.store.root, entry, record);
  return { ...base, status: 'proven', record, bootMs: guest.bootMs };
}

/** The family's kernel for this entry, or why there is none (the artifact stays unproven). */
function supplied(env: ProveEnv, kernel: KernelEntry): BootKernel | { unproven: string } {
  try {
    if (!env.family.bootKernel) throw new NoBootKernelError(`unproven: the ${env.family.name} family cannot supply a bootable kernel yet`);
    return env.family.bootKernel(env.ctx, kernel);
  } catch (err) {
    if (err instanceof NoBootKernelError) return { unproven: err.message };
    throw err;
  }
}

/** A proof of this key already made: in the store (nothing to do), or in the prove cache (stored now). */
async function alreadyProven(env: ProveEnv, entry: IndexEntry, key: string): Promise<ProofRecord | undefined> {
  const stored = await readStoredProof(env.store.root, entry).catch(() => undefined);
  if (stored?.proof.key === key) return stored.proof;
  const hit = await cachedProof(env.cacheDir, key, entry);
  if (hit) await writeStoredProof(env.store.root, entry, hit);
  return hit;
}

/** One guest: the kernel unpacked, its initramfs with the share appended, booted; its report read into the full check list. */
async function bootProof(env: ProveEnv, boot: BootKernel, module: Buffer, file: string, onStage: (s: ProveStage) => void) {
  const guestKernel = await boot.unpack();
  onStage('initramfs');
  const deps = (readModinfo(parseElf(module, file)).get('depends') ?? []).flatMap((d) => d.split(',')).filter(Boolean);
  const initramfs = await buildInitramfs({ kernel: guestKernel, modules: deps, cacheDir: env.cacheDir, no9p: true });
  const qemu = await env.qemu({ kernel: guestKernel, initramfs });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-prove-'));
  try {
    const share = await writeShare(dir, initramfs, module, deps);
    onStage('boot');
    const r = await bootGuest({ kernel: guestKernel, initramfs: share.initrd, script: share.script, memoryMiB: 768, timeoutMs: env.timeoutMs, accel: qemu.accel, signal: env.ctx.signal });
    onStage('record');
    const report = parseGuestReport(reportLines(r.console));
    if (env.ctx.signal?.aborted) throw new Error('interrupted: the guest was stopped');
    const problem = r.timedOut ? `no verdict within ${Math.round(env.timeoutMs / 1000)} s (the guest was stopped)` : r.exitCode === undefined ? `the guest ended without a verdict; console: ${lastLines(r.console)}` : undefined;
    return { qemu, report, checks: completeChecks(report, problem), bootMs: r.wallMs };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** The signer kmod read from the loaded file, and whether the kernel trusted it (no E taint on the module). */
function signatureOf(r: GuestReport): string {
  if (!r.signer) return 'unsigned';
  const trusted = r.modTaint !== undefined && !r.modTaint.includes('E');
  return `signed by ${r.signer.slice(0, 200)}; ${trusted ? 'the kernel verified it' : 'the kernel could not verify it (no trusted key)'}`;
}

function lastLines(console: string): string {
  return console.trim().split('\n').slice(-3).join(' | ').replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 400) || '(nothing)';
}
