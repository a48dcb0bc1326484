#!/usr/bin/env tsx
/**
 * Idempotent host setup for the main job, the tests and CI:
 *   - a Docker engine that answers (installs docker.io from apt and starts dockerd when needed)
 *   - the base image debian:bookworm (pulled if a registry answers, else debootstrap + docker import)
 *   - optional tool sets: --with vm (QEMU, busybox, LVM, kmod...), --with rpm (rpmbuild, createrepo_c, gpg),
 *     --with pkgrepo (yum and apt publishing: rpmsign, createrepo_c, dnf, apt-utils)
 *     --with sign (openssl, kbuild sign-file, sbsign, OVMF)
 *     --with publish (gpg, gpgv, curl, wget, busybox, dash: the dir target and its install.sh)
 *     --with oci (docker-registry, skopeo, htpasswd, openssl, busybox-static, kmod)
 *     --with el7 (compilers and autotools for ../shared/el7-userland/build.sh)
 * Mirror and suites come from the host's own apt configuration.
 */
import { $, fs, path, os } from 'zx';
import { parseDeb822Sources, parseOneLineSources, debianSourcesFor, releaseMirror, renderDeb822, type AptSource } from '../src/setup/apt-sources.ts';

$.verbose = false;
const args = process.argv.slice(2);
const withSets = new Set(args.flatMap((a, i) => (a === '--with' ? (args[i + 1] ?? '').split(',') : a.startsWith('--with=') ? a.slice(7).split(',') : [])));
const BASE = process.env.NBDFORGE_BASE_IMAGE ?? 'debian:bookworm';
const CODENAME = 'bookworm';
const log = (msg: string) => console.error(`[setup] ${msg}`);

const TOOLSETS: Record<string, { probe: string[]; packages: string[] }> = {
  docker: { probe: ['dockerd'], packages: ['docker.io', 'iptables'] },
  debootstrap: { probe: ['debootstrap'], packages: ['debootstrap'] },
  vm: {
    probe: ['qemu-system-x86_64', 'qemu-img', 'qemu-nbd', 'busybox', 'lvm', 'kpartx', 'dmsetup', 'cpio', 'sfdisk', 'mkfs.ext4', 'mkfs.xfs', 'depmod', 'dropbear', 'ssh', 'dash', 'sgdisk', 'ntfs-3g', 'mkntfs'],
    packages: ['qemu-system-x86', 'qemu-utils', 'busybox-static', 'lvm2', 'kpartx', 'dmsetup', 'kmod', 'cpio', 'fdisk', 'e2fsprogs', 'xfsprogs', 'xz-utils', 'binutils', 'dropbear-bin', 'openssh-client', 'dash', 'gdisk', 'ntfs-3g'],
  },
  rpm: { probe: ['rpmbuild', 'createrepo_c', 'gpg'], packages: ['rpm', 'createrepo-c', 'gnupg'] },
  // publish to yum and apt: rpmbuild/rpmsign/createrepo_c make the repository, dnf is the real client
  // the tests install with; dpkg-deb + apt-ftparchive make the apt repository.
  pkgrepo: {
    probe: ['rpmbuild', 'rpmsign', 'createrepo_c', 'dnf', 'gpg', 'gpgv', 'dpkg-deb', 'apt-ftparchive'],
    packages: ['rpm', 'createrepo-c', 'dnf', 'gnupg', 'gpgv', 'dpkg', 'apt-utils'],
  },
  // The kbuild scripts/sign-file signs the test modules; the signature tests make keys with openssl;
  // the Secure Boot guest needs OVMF (with its snakeoil test keys) and sbsign for the kernel image.
  sign: { probe: ['openssl', '/usr/lib/linux-kbuild-6.1/scripts/sign-file', 'sbsign'], packages: ['openssl', 'linux-kbuild-6.1', 'sbsigntool', 'ovmf'] },
  // publish --to dir: gpg signs, and the clients install.sh meets on hosts (curl, wget, gpgv, shells)
  publish: { probe: ['gpg', 'gpgv', 'curl', 'wget', 'busybox', 'dash', 'sha256sum'], packages: ['gnupg', 'gpgv', 'curl', 'wget', 'busybox-static', 'dash', 'coreutils'] },
  // publish --to oci: busybox-static and kmod go into the image; the registry, skopeo and htpasswd are for the tests.
  oci: { probe: ['docker-registry', 'skopeo', 'htpasswd', 'openssl', 'busybox', 'depmod'], packages: ['docker-registry', 'skopeo', 'apache2-utils', 'openssl', 'busybox-static', 'kmod'] },
  // building CentOS 7's userland from source (../shared/el7-userland/build.sh; it checks the -dev packages itself)
  el7: {
    probe: ['gcc', 'make', 'autoreconf', 'autopoint', 'libtoolize', 'msgfmt', 'pkg-config', 'bison'],
    packages: ['build-essential', 'autoconf', 'automake', 'autopoint', 'libtool', 'libtool-bin', 'gettext', 'pkg-config', 'bison', 'libaio-dev', 'zlib1g-dev', 'liblzma-dev'],
  },
};

async function has(cmd: string): Promise<boolean> {
  return (await $`command -v ${cmd}`.nothrow()).exitCode === 0;
}

let aptUpdated = false;
async function ensureTools(name: string): Promise<void> {
  const set = TOOLSETS[name];
  if (!set) throw new Error(`unknown tool set "${name}" (known: ${Object.keys(TOOLSETS).join(', ')})`);
  const missing = [];
  for (const p of set.probe) if (!(await has(p))) missing.push(p);
  if (missing.length === 0) return;
  log(`installing ${set.packages.join(' ')} (missing: ${missing.join(', ')})`);
  if (!aptUpdated) {
    await $`apt-get update -q`;
    aptUpdated = true;
  }
  await $({ env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })`apt-get install -y -q --no-install-recommends ${set.packages}`;
}

async function engineAnswers(): Promise<boolean> {
  return (await $`timeout 10 docker version --format {{.Server.Version}}`.nothrow()).exitCode === 0;
}

async function ensureEngine(): Promise<void> {
  if (await engineAnswers()) return log('docker engine answers');
  await ensureTools('docker');
  if ((await $`pgrep -x dockerd`.nothrow()).exitCode !== 0) {
    const logFile = '/var/log/nbdforge-dockerd.log';
    log(`starting dockerd (log: ${logFile})`);
    // setsid + nohup: the engine outlives this script, its shell and a CI step.
    await $`setsid nohup dockerd > ${logFile} 2>&1 < /dev/null &`;
  }
  for (let i = 0; i < 120; i++) {
    if (await engineAnswers()) return log('docker engine is up');
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('dockerd did not answer within 60 s; see /var/log/nbdforge-dockerd.log');
}

async function hostSources(): Promise<AptSource[]> {
  const out: AptSource[] = [];
  const dir = '/etc/apt/sources.list.d';
  for (const f of (await fs.readdir(dir).catch(() => [])).sort()) {
    const text = await fs.readFile(path.join(dir, f), 'utf8');
    if (f.endsWith('.sources')) out.push(...parseDeb822Sources(text));
    else if (f.endsWith('.list')) out.push(...parseOneLineSources(text));
  }
  if (await fs.pathExists('/etc/apt/sources.list')) out.push(...parseOneLineSources(await fs.readFile('/etc/apt/sources.list', 'utf8')));
  return out;
}

async function ensureBaseImage(): Promise<void> {
  if ((await $`docker image inspect ${BASE}`.nothrow()).exitCode === 0) return log(`base image ${BASE} present`);
  if ((await $`timeout 20 docker pull ${BASE}`.nothrow()).exitCode === 0) return log(`pulled ${BASE}`);
  log(`${BASE} cannot be pulled: building it with debootstrap`);
  await ensureTools('debootstrap');
  const sources = await hostSources();
  const mirror = releaseMirror(sources, CODENAME);
  const suites = debianSourcesFor(sources, CODENAME);
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-rootfs-'));
  try {
    log(`debootstrap --variant=minbase ${CODENAME} from the host's mirror`);
    await $`debootstrap --variant=minbase ${CODENAME} ${root} ${mirror}`;
    // The image gets the host's suites (release, -updates, -security): kernel ABIs live in all three.
    await fs.remove(path.join(root, 'etc/apt/sources.list'));
    await fs.writeFile(path.join(root, 'etc/apt/sources.list.d/debian.sources'), renderDeb822(suites));
    await $`tar -C ${root} -c . | docker import --change ${'CMD ["/bin/bash"]'} - ${BASE}`;
    log(`imported ${BASE}`);
  } finally {
    await fs.remove(root);
  }
}

try {
  await ensureEngine();
  await ensureBaseImage();
  for (const s of withSets) if (s) await ensureTools(s);
} catch (err) {
  console.error(`[setup] failed: ${(err as Error).message}`);
  process.exit(1);
}
