/**
 * KVM or TCG for prove's guests. /dev/kvm existing is not enough (nested virtualisation may offer a
 * /dev/kvm that cannot run a stock kernel: QEMU aborts or hangs), so KVM is used only after a trial
 * boot of a real guest under it reached its script. The answer is remembered per host kernel and
 * QEMU version, so the trial runs once, not once per proof.
 */
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../doors/exec.ts';
import { writeFileAtomic } from '../util/atomic.ts';

export type Accel = 'kvm' | 'tcg';
export type AccelChoice = 'auto' | Accel;

/** `7.2.22` from `QEMU emulator version 7.2.22 (Debian ...)`. */
export function parseQemuVersion(text: string): string | undefined {
  return /QEMU emulator version (\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
}

export async function qemuVersion(binary = 'qemu-system-x86_64'): Promise<string> {
  const { stdout } = await run(binary, ['--version'], { timeoutMs: 10_000 });
  const v = parseQemuVersion(stdout);
  if (!v) throw new Error(`${binary} --version did not say its version`);
  return v;
}

interface Remembered {
  key: string;
  kvm: boolean;
  checkedAt: string;
}

/**
 * The accelerator to use: `want` when it is kvm or tcg; for auto, tcg without /dev/kvm, else what
 * the remembered trial said, else a new trial (`trial` boots a real guest under KVM and says whether
 * it reached its script).
 */
export async function chooseAccel(o: { want: AccelChoice; qemu: string; cacheDir: string; trial: () => Promise<boolean>; log?: (l: string) => void }): Promise<{ accel: Accel; why: string }> {
  if (o.want !== 'auto') return { accel: o.want, why: `--accel ${o.want}` };
  const usable = await fs.access('/dev/kvm', constants.R_OK | constants.W_OK).then(() => true, () => false);
  if (!usable) return { accel: 'tcg', why: '/dev/kvm is missing or not usable' };
  const file = path.join(o.cacheDir, 'accel.json');
  const key = `${os.release()} qemu ${o.qemu}`;
  const seen = await fs.readFile(file, 'utf8').then((t) => JSON.parse(t) as Remembered, () => undefined);
  if (seen && seen.key === key && typeof seen.kvm === 'boolean') return verdict(seen.kvm, seen.checkedAt);
  o.log?.('accel: trying a guest under KVM');
  const kvm = await o.trial().catch(() => false);
  const checkedAt = new Date().toISOString();
  await writeFileAtomic(file, JSON.stringify({ key, kvm, checkedAt } satisfies Remembered) + '\n');
  return verdict(kvm, checkedAt);
}

const verdict = (kvm: boolean, at: string): { accel: Accel; why: string } =>
  kvm ? { accel: 'kvm', why: `a trial guest ran under KVM (${at})` } : { accel: 'tcg', why: `a trial guest failed under KVM (${at}): TCG` };
