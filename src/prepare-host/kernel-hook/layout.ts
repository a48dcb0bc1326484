/**
 * Every path the kernel hook and the boot guard use on a host. `root` prefixes them all for tests
 * that run the real hook inside a sandbox directory (the hook reads the same prefix from NBDFORGE_ROOT).
 */
export const HOOK_NAME = 'nbdforge-nbd';
export const GUARD_UNIT = 'nbdforge-nbd-guard.service';

export interface HookLayout {
  root: string;
  postinst: string;
  postrm: string;
  /** The hook's path on the host itself (the guard's ExecStart), never prefixed. */
  hostPostinst: string;
  confDir: string;
  conf: string;
  unitDir: string;
  unit: string;
  wantsDir: string;
  wants: string;
  state: string;
  dirs: string[];
}

export function hookLayout(root = ''): HookLayout {
  const r = root.replace(/\/+$/, '');
  const unitDir = `${r}/etc/systemd/system`;
  const wantsDir = `${unitDir}/multi-user.target.wants`;
  return {
    root: r,
    postinst: `${r}/etc/kernel/postinst.d/${HOOK_NAME}`,
    postrm: `${r}/etc/kernel/postrm.d/${HOOK_NAME}`,
    hostPostinst: `/etc/kernel/postinst.d/${HOOK_NAME}`,
    confDir: `${r}/etc/nbdforge`,
    conf: `${r}/etc/nbdforge/kernel-hook.conf`,
    unitDir,
    unit: `${unitDir}/${GUARD_UNIT}`,
    wantsDir,
    wants: `${wantsDir}/${GUARD_UNIT}`,
    state: `${r}/var/lib/nbdforge/kernels`,
    // created one level at a time, so undo removes exactly the levels this run made
    dirs: [`${r}/etc/kernel`, `${r}/etc/kernel/postinst.d`, `${r}/etc/kernel/postrm.d`, `${r}/etc/nbdforge`, `${r}/etc/systemd`, unitDir, wantsDir],
  };
}
