/**
 * The kmod-nbd spec for one kernel (pure). Its NEVRA is the kernel's own: kmod-nbd-3.10.0-1160.el7
 * for 3.10.0-1160.el7.x86_64, so on a host `yum install kmod-nbd-$(uname -r)` names exactly the
 * package for the running kernel. Every package provides installonlypkg(kernel-module), which yum
 * and dnf treat as install-only: the packages of several kernels sit side by side, as kernels do.
 *
 * What CentOS 7's rpm 4.11 needs, pinned here rather than left to the building rpm's defaults:
 * an xz payload (4.11 has no zstd), sha256 file digests, plain versioned dependencies only.
 */
import path from 'node:path';
import { oneLine, PublishRefusedError } from '../package-channel.ts';

export interface ElRelease {
  version: string;
  release: string;
  arch: string;
}

const ARCHES = ['x86_64', 'aarch64', 'ppc64le', 's390x', 'i686'];

/** 3.10.0-1160.119.1.el7.x86_64 -> { version 3.10.0, release 1160.119.1.el7, arch x86_64 }. */
export function parseElRelease(kernelRelease: string): ElRelease {
  const m = /^([0-9][0-9A-Za-z._+~]*)-([0-9A-Za-z._+~]+)\.([a-z0-9_]+)$/.exec(kernelRelease);
  if (!m || !ARCHES.includes(m[3]) || kernelRelease.length > 200) {
    throw new PublishRefusedError(
      `kernel release ${JSON.stringify(kernelRelease)} is not VERSION-RELEASE.ARCH with one "-" (as 3.10.0-1160.el7.x86_64): an RPM "Requires: kernel-uname-r = ..." cannot carry it`,
    );
  }
  return { version: m[1], release: m[2], arch: m[3] };
}

/** Shared by every kmod-<module> package, byte for byte (rpm lets identical files be owned by several). */
export function depmodConf(module: string): string {
  return `# ${module}.ko from nbdforge (kmod-${module}): prefer it to any other ${module}.ko of the kernel.\noverride ${module} * extra/${module}\n`;
}

export interface SpecInput {
  kernelRelease: string;
  module: string;
  sha256: string;
  vermagic: string;
  key: string;
  toolVersion: string;
  /** proofLabel of the artifact's proof (SOURCE2 is then its proof.json, a doc file); absent = unproven. */
  proven?: string;
  /** The kABI note (kabi-note.ts): which other kernels of its release could load the module. */
  kabi?: string[];
}

/** Where a proven package keeps its proof.json: per kernel, as kmod packages of several kernels sit side by side. */
export function proofDocPath(s: Pick<SpecInput, 'kernelRelease' | 'module'>): string {
  return `/usr/share/doc/kmod-${s.module}-${s.kernelRelease}/proof.json`;
}

export function kmodSpec(s: SpecInput): string {
  const r = parseElRelease(s.kernelRelease);
  if (!/^[a-z0-9_]{1,64}$/.test(s.module)) throw new PublishRefusedError(`module name ${JSON.stringify(s.module)} is not a kernel module name`);
  // In the spec, '%' starts a macro: text from the manifest has it doubled.
  const text = (field: string, v: string) => oneLine(field, v).replaceAll('%', '%%');
  const [sha, vermagic, key, tool] = [text('sha256', s.sha256), text('vermagic', s.vermagic), text('key', s.key), text('tool.version', s.toolVersion)];
  const proven = s.proven === undefined ? undefined : text('proof', s.proven);
  const doc = proofDocPath(s);
  const kabi = (s.kabi ?? []).map((l, i) => text(`kABI note line ${i + 1}`, l));
  const kdir = `/lib/modules/${s.kernelRelease}`;
  // depmod only when the kernel's module directory exists: %postun after the kernel itself left
  // must not fail. The package never loads the module (prepare-host or the admin does).
  const depmod = `if [ -d ${kdir} ]; then depmod -a ${s.kernelRelease}; fi`;
  return `%define _binary_payload w6.xzdio
%define _binary_filedigest_algorithm 8
%define _source_filedigest_algorithm 8
%define debug_package %{nil}
%define __os_install_post %{nil}
%define _build_id_links none
%define _buildhost nbdforge
Name: kmod-${s.module}
Version: ${r.version}
Release: ${r.release}
Summary: ${s.module}.ko for Linux ${s.kernelRelease}, built and verified by nbdforge
License: GPLv2
BuildArch: ${r.arch}
AutoReqProv: no
Requires: kernel-uname-r = ${s.kernelRelease}
Provides: installonlypkg(kernel-module)
Provides: kmod(${s.module}.ko) = ${r.version}-${r.release}
Source0: ${s.module}.ko
Source1: kmod-${s.module}.conf
${proven ? 'Source2: proof.json\n' : ''}
%description
The ${s.module} kernel module for ${s.kernelRelease} only, as nbdforge built and verified it:
sha256 ${sha}
vermagic ${vermagic}
nbdforge build key ${key} (nbdforge ${tool}).
${proven ? `Loaded and used in its own kernel: ${proven} (${doc}).` : 'Not proven in its own kernel (no nbdforge prove record).'}
Installing runs depmod; it does not load the module.${kabi.map((l) => `\n${l}`).join('')}

%prep
%build
%install
mkdir -p %{buildroot}${kdir}/extra/${s.module} %{buildroot}/etc/depmod.d
install -m 0644 %{SOURCE0} %{buildroot}${kdir}/extra/${s.module}/${s.module}.ko
install -m 0644 %{SOURCE1} %{buildroot}/etc/depmod.d/kmod-${s.module}.conf
${proven ? `mkdir -p %{buildroot}${path.posix.dirname(doc)}\ninstall -m 0644 %{SOURCE2} %{buildroot}${doc}\n` : ''}
%post
${depmod}

%postun
${depmod}

%files
%defattr(-,root,root,-)
%dir ${kdir}/extra/${s.module}
${kdir}/extra/${s.module}/${s.module}.ko
%config(noreplace) /etc/depmod.d/kmod-${s.module}.conf
${proven ? `%dir ${path.posix.dirname(doc)}\n${doc}\n` : ''}`;
}

/** The file rpmbuild writes for this kernel (NEVRA.rpm). */
export function rpmFileName(module: string, kernelRelease: string): string {
  const r = parseElRelease(kernelRelease);
  return `kmod-${module}-${r.version}-${r.release}.${r.arch}.rpm`;
}
