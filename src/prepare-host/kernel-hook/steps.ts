import { type Step, shc } from '../../host/step.ts';
import { type HookLayout } from './layout.ts';
import { type FollowConfig, HOOK_SH, renderHookConfig, renderGuardUnit } from './config.ts';

/**
 * prepare-host's steps that make the host follow its kernels: the hook (postinst.d and postrm.d),
 * its configuration, the boot guard unit and its enablement (the symlink `systemctl enable` makes,
 * so no systemd is needed at plan time). Each is probed and undone; undoing the postinst hook first
 * runs `hook --purge` (when this run put the hook there), which removes every module the hook
 * installed and its records.
 */
export function followKernelSteps(l: HookLayout, c: FollowConfig): Step[] {
  return [
    ...l.dirs.map((d, i) => ({ id: `mkdir-follow-${i}`, describe: `create ${d}`, probe: ['test', '-d', d], command: ['mkdir', d], undo: ['rmdir', d] })),
    writeFile('kernel-hook-config', l.conf, renderHookConfig(c), '600', 'the kernel hook configuration (source, trust, options)'),
    {
      ...writeFile('kernel-hook-postinst', l.postinst, HOOK_SH.trimEnd(), '755', 'the kernel hook: new kernels get nbd.ko'),
      undo: shc(`if [ ! -f "$1.nbdforge-prev" ] && [ -x "$1" ]; then "$1" --purge || exit 1; fi; ${RESTORE}`, l.postinst),
    },
    writeFile('kernel-hook-postrm', l.postrm, HOOK_SH.trimEnd(), '755', 'the kernel hook: removed kernels lose what it installed'),
    writeFile('guard-unit', l.unit, renderGuardUnit(l, c), '644', 'the boot guard unit'),
    {
      id: 'guard-enable',
      describe: `enable the boot guard (${l.wants})`,
      probe: shc('[ -L "$1" ] && [ "$(readlink "$1")" = "$2" ]', l.wants, `../${l.unit.split('/').pop()}`),
      command: shc('ln -sf "$2" "$1" && { [ ! -d /run/systemd/system ] || [ -n "$3" ] || systemctl daemon-reload; }', l.wants, `../${l.unit.split('/').pop()}`, l.root),
      undo: shc('rm -f "$1" && { [ ! -d /run/systemd/system ] || [ -n "$2" ] || systemctl daemon-reload; }', l.wants, l.root),
    },
  ];
}

const RESTORE = 'if [ -f "$1.nbdforge-prev" ]; then mv -f "$1.nbdforge-prev" "$1"; else rm -f "$1"; fi';

/** Replace a file atomically with its mode, keeping the old one for undo. */
function writeFile(id: string, file: string, content: string, mode: string, what: string): Step {
  return {
    id,
    describe: `${file}: ${what}`,
    probe: shc('[ -f "$1" ] && [ "$(cat "$1")" = "$2" ]', file, content),
    command: shc(
      'if [ -f "$1" ]; then cp -p "$1" "$1.nbdforge-prev" || exit 1; fi; printf "%s\\n" "$2" > "$1.nbdforge-new" && chmod "$3" "$1.nbdforge-new" && mv -f "$1.nbdforge-new" "$1"',
      file,
      content,
      mode,
    ),
    undo: shc(RESTORE, file),
  };
}

/** The backups these steps keep for undo (prepare-host's drop-backups step removes them at the end). */
export function followBackups(l: HookLayout): string[] {
  return [l.conf, l.postinst, l.postrm, l.unit].map((f) => `${f}.nbdforge-prev`);
}
