import type { Plan } from '../host/plan.ts';
import { validatePlan } from '../host/plan.ts';
import { type Step, shc } from '../host/step.ts';
import type { HostLayout } from './layout.ts';
import { type ModuleOptions, expectedParameter } from './options.ts';
import { prepareHostRules } from './preconditions.ts';
import type { HookLayout } from './kernel-hook/layout.ts';
import type { FollowConfig } from './kernel-hook/config.ts';
import { followKernelSteps, followBackups } from './kernel-hook/steps.ts';

export interface PrepareHostInput {
  layout: HostLayout;
  artifact: { bytes: Uint8Array; sha256: string; vermagic: string; signer?: { subject: string; fingerprint: string } };
  options: ModuleOptions;
  /** base64 is needed only where the module travels inside a script (ssh, emitted). */
  needsBase64?: boolean;
  /** Follow kernel updates: install the kernel hook, its configuration and the boot guard. */
  follow?: { layout: HookLayout; config: FollowConfig };
}

/** `s=$(sha256sum F)` and compare: the shared "is the installed module exactly this artifact" test. */
const SHA_IS = 's=$(sha256sum "$1" 2>/dev/null) && [ "${s%% *}" = "$2" ]';

/**
 * The whole host change as data. Every step is probed, so a second run finds everything done; every
 * step that changes the host can be undone, so a failure leaves the host as it was.
 */
export function planPrepareHost(input: PrepareHostInput): Plan {
  const { layout: l, artifact: a, options } = input;
  const installed = shc(SHA_IS, l.module, a.sha256);
  const tools = ['modprobe', 'depmod', 'modinfo', 'sha256sum', ...(input.needsBase64 ? ['base64'] : [])];
  const steps: Step[] = [
    mkdirStep('mkdir-extra', l.extraDir),
    {
      id: 'stage',
      describe: `write the module to ${l.staged}`,
      probe: installed,
      command: shc('cat > "$1"', l.staged),
      stdin: a.bytes,
      undo: ['rm', '-f', l.staged],
    },
    {
      id: 'verify-sha256',
      describe: `sha256 of the staged module is ${a.sha256.slice(0, 12)}...`,
      probe: installed,
      command: shc(`${SHA_IS} || { echo "sha256 of $1 is \${s%% *}, expected $2"; exit 1; }`, l.staged, a.sha256),
      readOnly: true,
    },
    {
      id: 'verify-vermagic',
      describe: `vermagic is "${a.vermagic}" like the kernel's own modules`,
      probe: installed,
      command: shc(VERMAGIC_CHECK, l.staged, l.moduleDir, l.kernelRelease, a.vermagic),
      readOnly: true,
    },
    {
      id: 'install',
      describe: `move it into place as ${l.module}`,
      probe: installed,
      command: shc('if [ -f "$2" ]; then cp -p "$2" "$2.nbdforge-prev" || exit 1; fi; mv -f "$1" "$2"', l.staged, l.module),
      undo: shc('if [ -f "$2.nbdforge-prev" ]; then mv -f "$2.nbdforge-prev" "$2"; else rm -f "$2"; fi && depmod -a "$1"', l.kernelRelease, l.module),
    },
    {
      id: 'depmod',
      describe: `depmod for ${l.kernelRelease}`,
      probe: shc('grep -q "^extra/nbd\\.ko:" "$1/modules.dep" 2>/dev/null', l.moduleDir),
      command: ['depmod', '-a', l.kernelRelease],
    },
  ];
  if (options.length) {
    steps.push(mkdirStep('mkdir-modprobe.d', dirname(l.modprobeConf)));
    steps.push(writeFileStep('persist-options', l.modprobeConf, `options nbd ${options.map(([k, v]) => `${k}=${v}`).join(' ')}`));
  }
  steps.push(mkdirStep('mkdir-modules-load.d', dirname(l.modulesLoadConf)));
  steps.push(writeFileStep('persist-load', l.modulesLoadConf, 'nbd'));
  if (input.follow) steps.push(...followKernelSteps(input.follow.layout, input.follow.config));
  steps.push(
    {
      id: 'modprobe',
      describe: `modprobe nbd${options.length ? ' (options from ' + l.modprobeConf + ')' : ''}`,
      probe: ['test', '-d', '/sys/module/nbd'],
      command: ['modprobe', 'nbd'],
      undo: ['modprobe', '-r', 'nbd'],
    },
    {
      id: 'check-device',
      describe: '/dev/nbd0 is a block device',
      command: shc('i=0; while [ ! -b /dev/nbd0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; [ -b /dev/nbd0 ] || { echo "/dev/nbd0 did not appear"; exit 1; }'),
      readOnly: true,
    },
    {
      id: 'check-module',
      describe: `nbd resolves to ${l.module}${options.length ? ' and its parameters are set' : ''}`,
      command: shc(MODULE_CHECK, l.module, l.kernelRelease, ...options.flatMap(([k, v]) => [k, expectedParameter(k, v)])),
      readOnly: true,
    },
  );
  const backups = [
    ...[l.module, ...(options.length ? [l.modprobeConf] : []), l.modulesLoadConf].map((f) => `${f}.nbdforge-prev`),
    ...(input.follow ? followBackups(input.follow.layout) : []),
  ];
  steps.push({
    id: 'drop-backups',
    describe: 'remove the copies kept for undo',
    probe: shc('for f; do [ -e "$f" ] && exit 1; done; exit 0', ...backups),
    command: ['rm', '-f', ...backups],
  });
  return validatePlan({
    id: 'prepare-host',
    title: `install nbd.ko for ${l.kernelRelease} and load it`,
    lock: l.lock,
    preconditions: prepareHostRules(l, a.sha256, tools, a.signer !== undefined),
    steps,
  });
}

/** On the host itself: the staged module names this kernel and matches a module the kernel shipped with. */
const VERMAGIC_CHECK = [
  'got=$(modinfo -F vermagic "$1") || exit 1; got=$(echo $got)',
  '[ "$got" = "$4" ] || { echo "module vermagic is \\"$got\\", expected \\"$4\\""; exit 1; }',
  'case "$got" in "$3 "*) ;; *) echo "module is built for kernel ${got%% *}, this is $3"; exit 1;; esac',
  'ref=$(find "$2/kernel" -name "*.ko*" -type f 2>/dev/null | head -n 1)',
  '[ -z "$ref" ] && exit 0; want=$(modinfo -F vermagic "$ref"); want=$(echo $want)',
  '[ "$got" = "$want" ] || { echo "module vermagic \\"$got\\" differs from \\"$want\\" of $ref"; exit 1; }',
].join('\n');

/** modprobe would load our file, and /sys shows the requested parameters (name value pairs follow). */
const MODULE_CHECK = [
  'f=$(modinfo -k "$2" -n nbd 2>/dev/null); [ "$f" = "$1" ] || { echo "modprobe resolves nbd to ${f:-nothing}, not $1"; exit 1; }',
  'shift 2',
  'while [ $# -gt 1 ]; do',
  '  got=$(cat "/sys/module/nbd/parameters/$1" 2>/dev/null)',
  '  [ "$got" = "$2" ] || { echo "nbd parameter $1 is ${got:-unreadable}, expected $2 (rmmod nbd to reload with new options)"; exit 1; }',
  '  shift 2',
  'done',
].join('\n');

function dirname(p: string): string {
  return p.slice(0, p.lastIndexOf('/')) || '/';
}

function mkdirStep(id: string, dir: string): Step {
  return { id, describe: `create ${dir}`, probe: ['test', '-d', dir], command: ['mkdir', '-p', dir], undo: ['rmdir', dir] };
}

/** Replace a one-line file atomically, keeping the old one for undo. */
function writeFileStep(id: string, file: string, content: string): Step {
  return {
    id,
    describe: `${file}: "${content}"`,
    probe: shc('[ -f "$1" ] && [ "$(cat "$1")" = "$2" ]', file, content),
    command: shc(
      'if [ -f "$1" ]; then cp -p "$1" "$1.nbdforge-prev" || exit 1; fi; printf "%s\\n" "$2" > "$1.nbdforge-new" && mv -f "$1.nbdforge-new" "$1"',
      file,
      content,
    ),
    undo: shc('if [ -f "$1.nbdforge-prev" ]; then mv -f "$1.nbdforge-prev" "$1"; else rm -f "$1"; fi', file),
  };
}
