/**
 * Prove many artifacts, at most `jobs` guests at once; one failure never stops the others. QEMU's
 * version and the accelerator are settled once, by the first proof that needs a boot (a run of
 * cache hits never starts QEMU).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { KernelEntry } from '../families/family.ts';
import type { IndexEntry } from '../artifacts/dir-store.ts';
import { bootGuest } from '../guest/qemu.ts';
import type { GuestKernel } from '../guest/kernel.ts';
import { chooseAccel, qemuVersion, type Accel, type AccelChoice } from './accel.ts';
import { initrdWithShare } from './share.ts';
import { proveOne, type ProveEnv, type ProveOutcome, type ProveStage } from './prove-one.ts';

export type ProveEvent = { type: 'stage'; kernelRelease: string; stage: ProveStage } | { type: 'done'; result: ProveResult };
export type ProveResult = ProveOutcome & { durationMs: number; error?: Error };

/** What a host needs to prove: QEMU, and what the guest's initramfs is made of (busybox-static, dash, kmod, qemu-nbd). */
export const HOST_TOOLS = ['qemu-system-x86_64', 'qemu-nbd', 'dpkg-deb', 'depmod', 'cpio', 'busybox', 'dash', 'kmod', 'ldd'];

export async function missingTools(env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const dirs = (env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').filter(Boolean);
  const found = async (t: string) => {
    for (const d of dirs) if (await fs.access(path.join(d, t), fs.constants.X_OK).then(() => true, () => false)) return true;
    return false;
  };
  const out: string[] = [];
  for (const t of HOST_TOOLS) if (!(await found(t))) out.push(t);
  if (!(await fs.access('/bin/busybox').then(() => true, () => false)) && !out.includes('busybox')) out.push('/bin/busybox');
  return out;
}

/** The accelerator's trial: a guest whose script only exits 0, under KVM, within a minute. */
async function kvmTrial(guest: { kernel: GuestKernel; initramfs: string }): Promise<boolean> {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-kvm-trial-'));
  try {
    await fs.mkdir(path.join(work, 'share'));
    await fs.writeFile(path.join(work, 'share', 'trial.sh'), 'exit 0\n');
    const initramfs = await initrdWithShare(work, guest.initramfs);
    const r = await bootGuest({ kernel: guest.kernel, initramfs, script: 'trial.sh', accel: 'kvm', timeoutMs: 60_000, memoryMiB: 512 });
    return r.exitCode === 0;
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

export function settleQemu(o: { want: AccelChoice; cacheDir: string; log?: (l: string) => void }): ProveEnv['qemu'] {
  let settled: Promise<{ version: string; accel: Accel }> | undefined;
  return (guest) =>
    (settled ??= (async () => {
      const version = await qemuVersion();
      const { accel, why } = await chooseAccel({ want: o.want, qemu: version, cacheDir: o.cacheDir, trial: () => kvmTrial(guest), log: o.log });
      o.log?.(`QEMU ${version}, ${accel} (${why})`);
      return { version, accel };
    })());
}

export async function proveMany(env: ProveEnv, items: Array<{ kernel: KernelEntry; entry: IndexEntry }>, jobs: number, onEvent: (e: ProveEvent) => void = () => {}): Promise<ProveResult[]> {
  const results = new Array<ProveResult>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      const { kernel, entry } = items[i];
      const t0 = Date.now();
      let r: ProveResult;
      try {
        if (env.ctx.signal?.aborted) throw new Error('interrupted before start');
        const o = await proveOne(env, kernel, entry, (stage) => onEvent({ type: 'stage', kernelRelease: entry.kernelRelease, stage }));
        r = { ...o, durationMs: Date.now() - t0 };
      } catch (err) {
        const e = err as Error;
        r = { kernelRelease: entry.kernelRelease, status: 'failed', reason: e.message.split('\n')[0], bootMs: 0, durationMs: Date.now() - t0, error: e };
      }
      results[i] = r;
      onEvent({ type: 'done', result: r.status === 'failed' ? { ...r, error: r.error ?? new Error(r.reason) } : r });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
  return results;
}
