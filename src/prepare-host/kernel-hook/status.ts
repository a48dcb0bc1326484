import type { Runner } from '../../host/runner.ts';
import { shc } from '../../host/step.ts';
import { HOOK_SH } from './config.ts';
import { hookLayout, GUARD_UNIT } from './layout.ts';

/** How one installed kernel gets nbd, as the hook's records and the module tree say. */
export interface KernelNbd {
  kernel: string;
  how: 'exact' | 'installed' | 'reused' | 'shipped' | 'missing';
  running: boolean;
  file?: string;
  sha256?: string;
  /** reused: the kernel the module was built for, and how many imported CRCs matched /boot/symvers-<kernel>.gz. */
  builtFor?: string;
  crcs?: number;
  /** missing: the hook's last word on this kernel. */
  last?: string;
}

export interface FollowStatus {
  running: string;
  kernels: KernelNbd[];
  hook: { postinst: boolean; postrm: boolean; config: boolean };
  guard: { unit: boolean; enabled: boolean; active?: string };
}

/**
 * One round trip (local or over ssh, no Node on the host): which files of the hook and guard are in
 * place, then the hook's own --status (this nbdforge's copy, so an older installed hook still answers).
 */
const SCRIPT = [
  'r=${NBDFORGE_ROOT:-}',
  'echo "running=$(uname -r)"',
  'shift; for f; do if [ -e "$r$f" ]; then echo "present=$f"; fi; done',
  `if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ] && [ -z "$r" ]; then echo "active=$(systemctl is-active ${GUARD_UNIT} 2>/dev/null)"; fi`,
  'printf "%s\\n" "$HOOK" >"${TMPDIR:-/tmp}/nbdforge-status.$$" && sh "${TMPDIR:-/tmp}/nbdforge-status.$$" --status; rm -f "${TMPDIR:-/tmp}/nbdforge-status.$$"',
].join('\n');

export async function followStatus(runner: Runner): Promise<FollowStatus> {
  const l = hookLayout();
  const files = [l.postinst, l.postrm, l.conf, l.unit, l.wants];
  const argv = shc(`HOOK=$1\n${SCRIPT}`, HOOK_SH, ...files);
  const r = await runner.exec(argv);
  return parseStatus(r.stdout, files);
}

export function parseStatus(text: string, files = ((l) => [l.postinst, l.postrm, l.conf, l.unit, l.wants])(hookLayout())): FollowStatus {
  const present = new Set<string>();
  let running = '';
  let active: string | undefined;
  const kernels: KernelNbd[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('running=')) running = line.slice(8);
    else if (line.startsWith('present=')) present.add(line.slice(8));
    else if (line.startsWith('active=')) active = line.slice(7);
    else if (line.startsWith('kernel=')) {
      const f = fields(line);
      const k: KernelNbd = { kernel: f.kernel, how: (f.how as KernelNbd['how']) ?? 'missing', running: false };
      if (f.file) k.file = f.file;
      if (f.sha256) k.sha256 = f.sha256;
      if (f.builtFor) k.builtFor = f.builtFor;
      if (f.crcs) k.crcs = Number(f.crcs);
      if (f.last) k.last = f.last;
      kernels.push(k);
    }
  }
  for (const k of kernels) k.running = k.kernel === running;
  const [postinst, postrm, conf, unit, wants] = files;
  return {
    running,
    kernels,
    hook: { postinst: present.has(postinst), postrm: present.has(postrm), config: present.has(conf) },
    guard: { unit: present.has(unit), enabled: present.has(wants), ...(active !== undefined ? { active } : {}) },
  };
}

/** `kernel=V how=H file=F ... last=free text to the end of the line`. */
function fields(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lastAt = line.indexOf(' last=');
  const head = lastAt >= 0 ? line.slice(0, lastAt) : line;
  if (lastAt >= 0) out.last = line.slice(lastAt + 6);
  for (const w of head.split(' ')) {
    const i = w.indexOf('=');
    if (i > 0 && w.slice(i + 1) !== '') out[w.slice(0, i)] = w.slice(i + 1);
  }
  return out;
}

export function renderStatus(target: string, s: FollowStatus): string {
  const yes = (b: boolean) => (b ? 'in place' : 'MISSING');
  const lines = [
    `nbd on ${target} (running ${s.running || '?'})`,
    ...s.kernels.map((k) => {
      const what =
        k.how === 'reused'
          ? `reused: built for ${k.builtFor}, all ${k.crcs} imported CRCs match /boot/symvers-${k.kernel}.gz (${k.file})`
          : k.how === 'exact' || k.how === 'installed'
            ? `exact: ${k.file} (sha256 ${k.sha256?.slice(0, 12)}...)${k.how === 'installed' ? ', installed by prepare-host' : ', installed by the kernel hook'}`
            : k.how === 'shipped'
              ? 'shipped with the kernel'
              : `MISSING${k.last ? `: ${k.last}` : ''}`;
      return `  ${k.running ? '*' : ' '} ${k.kernel.padEnd(34)} ${what}`;
    }),
    `kernel hook: postinst.d ${yes(s.hook.postinst)}, postrm.d ${yes(s.hook.postrm)}, configuration ${yes(s.hook.config)}`,
    `boot guard: unit ${yes(s.guard.unit)}, ${s.guard.enabled ? 'enabled' : 'NOT enabled'}${s.guard.active !== undefined ? `, ${s.guard.active}` : ''}`,
  ];
  return lines.join('\n') + '\n';
}
