/** Every path prepare-host touches on a host, in one place. */
export interface HostLayout {
  kernelRelease: string;
  moduleDir: string;
  extraDir: string;
  module: string;
  staged: string;
  modprobeConf: string;
  modulesLoadConf: string;
  lock: string;
}

export function hostLayout(kernelRelease: string): HostLayout {
  if (!/^[A-Za-z0-9._+-]+$/.test(kernelRelease)) throw new Error(`bad kernel release ${JSON.stringify(kernelRelease)}`);
  const moduleDir = `/lib/modules/${kernelRelease}`;
  const extraDir = `${moduleDir}/extra`;
  return {
    kernelRelease,
    moduleDir,
    extraDir,
    module: `${extraDir}/nbd.ko`,
    // Beside, not inside, the release tree: depmod never indexes a half-written module, the final
    // mv stays on one filesystem, and the .ko suffix lets modinfo read it as a file.
    staged: `/lib/modules/.nbd-${kernelRelease}.nbdforge-new.ko`,
    modprobeConf: `/etc/modprobe.d/nbdforge-nbd.conf`,
    modulesLoadConf: `/etc/modules-load.d/nbdforge-nbd.conf`,
    lock: `/run/nbdforge-prepare-host.lock`,
  };
}
