/**
 * Boot a guest (nbdforge prove, the vm test tier) under QEMU: TCG by default (-smp 1: two TCG vCPUs
 * are slower), KVM when asked (prove asks only after a trial boot worked: see prove/accel.ts). The
 * guest's /init (guest-init.sh) runs one script from the shared directory and reports
 * `NBDFORGE-VM-EXIT: <code>` on the serial console.
 */
import { startTool } from '../doors/exec.ts';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import type { GuestKernel } from './kernel.ts';

export interface BootSpec {
  kernel: GuestKernel;
  initramfs: string;
  /** Host directory mounted at /share in the guest (read-write, 9p); absent when /share comes in the initramfs. */
  share?: string;
  /** Script inside the share, run by the guest's /bin/sh. */
  script: string;
  /** Modules loaded before the share is mounted (beyond the 9p ones). */
  modules?: string[];
  memoryMiB?: number;
  timeoutMs?: number;
  /** Console transcript is written here as it arrives. */
  logFile?: string;
  /** User-mode network with these host->guest TCP forwards (loopback only); else no network at all. */
  forwards?: Array<{ hostPort: number; guestPort: number }>;
  /** Called with each console line as it arrives (to act while the guest runs). */
  onLine?: (line: string) => void;
  extraArgs?: string[];
  /** More kernel command-line words, e.g. module.sig_enforce=1. */
  kernelArgs?: string[];
  /** tcg (default) or kvm (with -cpu host). */
  accel?: 'tcg' | 'kvm';
  /** Stops the guest (QEMU killed) when aborted: Ctrl-C of the command that booted it. */
  signal?: AbortSignal;
}

export interface BootResult {
  /** The script's exit status, or undefined when the guest never said (panic, timeout). */
  exitCode?: number;
  console: string;
  wallMs: number;
  timedOut: boolean;
}

/** QEMU option values separate on commas: a literal comma is written twice. */
export const qemuValue = (s: string) => s.replace(/,/g, ',,');

export function qemuArgs(spec: BootSpec): string[] {
  const mods = [...(spec.share ? ['virtio_pci', '9pnet_virtio', '9p'] : []), ...(spec.modules ?? [])].join(',');
  return [
    ...(spec.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg', '-cpu', 'max']), '-smp', '1', '-m', String(spec.memoryMiB ?? 1024),
    '-nographic', '-no-reboot',
    '-nic', spec.forwards?.length ? ['user', 'model=virtio-net-pci', ...spec.forwards.map((f) => `hostfwd=tcp:127.0.0.1:${f.hostPort}-:${f.guestPort}`)].join(',') : 'none',
    '-kernel', spec.kernel.vmlinuz,
    '-initrd', spec.initramfs,
    '-append', `console=ttyS0 panic=-1 quiet loglevel=3 nbdforge.modules=${mods} nbdforge.script=${spec.script}${(spec.kernelArgs ?? []).map((a) => ` ${a}`).join('')}`,
    ...(spec.share ? ['-virtfs', `local,path=${qemuValue(path.resolve(spec.share))},mount_tag=share,security_model=none,id=share`] : []),
    ...(spec.extraArgs ?? []),
  ];
}

export async function bootGuest(spec: BootSpec): Promise<BootResult> {
  if (/\s/.test(spec.script)) throw new Error(`guest script name must not contain spaces: ${spec.script}`);
  const t0 = Date.now();
  const log = spec.logFile ? createWriteStream(spec.logFile) : undefined;
  const child = startTool('qemu-system-x86_64', qemuArgs(spec));
  let consoleText = '';
  let partial = '';
  const take = (b: Buffer) => {
    const s = b.toString('utf8').replace(/\r/g, '');
    consoleText += s;
    log?.write(s);
    if (spec.onLine) {
      const lines = (partial + s).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) spec.onLine(l);
    }
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, spec.timeoutMs ?? 120_000);
  const stop = () => child.kill('SIGKILL');
  spec.signal?.addEventListener('abort', stop, { once: true });
  if (spec.signal?.aborted) stop();
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => resolve());
  });
  clearTimeout(timer);
  spec.signal?.removeEventListener('abort', stop);
  if (log) await new Promise((r) => log.end(r));
  const m = /NBDFORGE-VM-EXIT: (\d+)/.exec(consoleText);
  return { exitCode: m ? Number(m[1]) : undefined, console: consoleText, wallMs: Date.now() - t0, timedOut };
}
