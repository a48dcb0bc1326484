/**
 * What goes inside one nbd-modules-<release> .deb (pure): the control file and the maintainer
 * scripts. The module goes to /lib/modules/<release>/updates/, which depmod searches before the
 * kernel's own tree (kmod's default "search updates built-in"), so it wins over Debian's nbd.ko.
 * The package never loads the module (prepare-host or the admin does).
 */
import { oneLine, PublishRefusedError } from '../package-channel.ts';

export interface DebInput {
  kernelRelease: string;
  module: string;
  sha256: string;
  vermagic: string;
  key: string;
  createdAt: string;
  toolVersion: string;
  /** Installed size of the files, bytes. */
  size: number;
  /** proofLabel of the artifact's proof (its proof.json goes to /usr/share/doc/<package>/); absent = unproven. */
  proven?: string;
}

/** Where a proven package keeps its proof.json. */
export function proofDocPath(s: Pick<DebInput, 'kernelRelease' | 'module'>): string {
  return `usr/share/doc/${debPackageName(s)}/proof.json`;
}

/** Debian kernel release -> package architecture: 6.1.0-56-amd64 (or -cloud-amd64, -rt-amd64) -> amd64. */
export function debArch(kernelRelease: string): string {
  if (!/^[0-9][a-z0-9.+~-]*$/.test(kernelRelease) || kernelRelease.length > 100) {
    throw new PublishRefusedError(`kernel release ${JSON.stringify(kernelRelease)} cannot name a Debian package (lower-case letters, digits, . + ~ - only)`);
  }
  if (kernelRelease.endsWith('-amd64')) return 'amd64';
  throw new PublishRefusedError(`kernel release ${kernelRelease}: only amd64 kernels (…-amd64) are published to apt`);
}

export function debPackageName(s: Pick<DebInput, 'kernelRelease' | 'module'>): string {
  if (!/^[a-z0-9_]{1,64}$/.test(s.module)) throw new PublishRefusedError(`module name ${JSON.stringify(s.module)} is not a kernel module name`);
  return `${s.module.replaceAll('_', '-')}-modules-${s.kernelRelease}`;
}

/** Later builds sort later: the artifact's creation time, then its key (a rebuild upgrades the package). */
export function debVersion(s: Pick<DebInput, 'createdAt' | 'key'>): string {
  const t = new Date(s.createdAt);
  if (Number.isNaN(t.getTime())) throw new PublishRefusedError(`artifact createdAt ${JSON.stringify(s.createdAt)} is not a date`);
  const iso = t.toISOString(); // 2026-11-28T10:15:00.000Z
  return `${iso.slice(0, 10).replaceAll('-', '')}.${iso.slice(11, 19).replaceAll(':', '')}+${s.key.slice(0, 12)}`;
}

export function modulePathIn(s: Pick<DebInput, 'kernelRelease' | 'module'>): string {
  return `lib/modules/${s.kernelRelease}/updates/${s.module}.ko`;
}

export function debControl(s: DebInput): string {
  for (const [f, v] of [['sha256', s.sha256], ['vermagic', s.vermagic], ['key', s.key], ['tool.version', s.toolVersion], ...(s.proven ? [['proof', s.proven]] : [])]) oneLine(f, v);
  return [
    `Package: ${debPackageName(s)}`,
    'Source: nbdforge',
    `Version: ${debVersion(s)}`,
    `Architecture: ${debArch(s.kernelRelease)}`,
    'Maintainer: nbdforge <nbdforge@localhost>',
    `Installed-Size: ${Math.ceil(s.size / 1024)}`,
    // linux-image depends on kmod, which the maintainer scripts use.
    `Depends: linux-image-${s.kernelRelease}`,
    'Section: kernel',
    'Priority: optional',
    `Description: ${s.module}.ko for Linux ${s.kernelRelease}, built and verified by nbdforge`,
    ` The ${s.module} kernel module for ${s.kernelRelease} only, in /${modulePathIn(s)}.`,
    ` sha256 ${s.sha256}`,
    ` vermagic ${s.vermagic}`,
    ` nbdforge build key ${s.key} (nbdforge ${s.toolVersion}).`,
    s.proven ? ` Loaded and used in its own kernel: ${s.proven} (/${proofDocPath(s)}).` : ' Not proven in its own kernel (no nbdforge prove record).',
    ' Installing runs depmod; it does not load the module.',
    '',
  ].join('\n');
}

export function postinst(kernelRelease: string): string {
  return `#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /lib/modules/${kernelRelease} ]; then
  depmod -a ${kernelRelease}
fi
`;
}

/** After remove or purge: forget the module (unless the kernel itself is gone with its directory). */
export function postrm(kernelRelease: string): string {
  return `#!/bin/sh
set -e
case "$1" in
  remove|purge)
    if [ -d /lib/modules/${kernelRelease} ] && command -v depmod >/dev/null 2>&1; then
      depmod -a ${kernelRelease}
    fi
    ;;
esac
`;
}
