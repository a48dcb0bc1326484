/**
 * The kernel hook run by a real Debian kernel package: a bookworm chroot (debootstrap minbase from
 * the host's mirror, with kmod and linux-base, which the package's postinst needs, and curl) gets the hook and
 * its configuration as prepare-host writes them, then `dpkg -i` of the real
 * linux-image-<newest>-amd64 .deb, repacked without its own nbd.ko (the stand-in for a kernel that
 * lacks nbd, like stock CentOS 7; maintainer scripts untouched). Its postinst's run-parts runs the
 * hook: the module lands byte-identical to the store's, indexed by depmod. `dpkg -r` runs postrm.d:
 * the hook removes exactly its module. With the source down the package still installs (exit 0) and
 * the hook says why. The unmodified package: the hook sees the kernel's own nbd.ko and does nothing.
 * A chroot shares this machine's network, so the site is served on 127.0.0.1 only.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, fs, path, os } from 'zx';
import { testReleases, vmCacheDir } from '../../scripts/vm/harness.ts';
import { hostMirror, stockKernelDeb, repackWithoutNbd, fakeInitramfsDeb } from '../../scripts/vm/debian-packages.ts';
import { artifactFor, type Artifact } from './helpers.ts';
import { publishSite, type Site } from './site.ts';
import { hookLayout } from '../../src/prepare-host/kernel-hook/layout.ts';
import { renderHookConfig, HOOK_SH } from '../../src/prepare-host/kernel-hook/config.ts';
import { parseOptions } from '../../src/prepare-host/options.ts';

$.verbose = false;
let tmp = '';
let chroot = '';
let site: Site;
let art: Artifact;
let url = '';

const inChroot = (...argv: string[]) => $({ nothrow: true, env: { ...process.env, PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } })`chroot ${chroot} ${argv}`;

async function writeConfig(from: string): Promise<void> {
  const l = hookLayout(chroot);
  await fs.writeFile(l.conf, renderHookConfig({ from, fingerprint: site.fingerprint, family: 'debian12', options: parseOptions('nbds_max=16 max_part=15'), preparedFor: art.release }) + '\n', { mode: 0o600 });
}

test.before(async () => {
  art = await artifactFor((await testReleases()).newest);
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-hook-dpkg-'));
  chroot = path.join(tmp, 'root');
  await $`debootstrap --variant=minbase --include=kmod,linux-base,curl bookworm ${chroot} ${await hostMirror()}`;

  // the real package, and the same package without its own nbd.ko (maintainer scripts untouched)
  await repackWithoutNbd(art.release, vmCacheDir(), path.join(chroot, 'tmp/linux-image-nonbd.deb'));
  await fs.copy(await stockKernelDeb(art.release, vmCacheDir()), path.join(chroot, 'tmp/linux-image-stock.deb'));
  // linux-image depends on initramfs-tools | linux-initramfs-tool: a tiny package provides the latter
  await fakeInitramfsDeb(path.join(chroot, 'tmp/fake-initramfs.deb'));
  site = await publishSite(path.join(tmp, 'site'), 'good', [art.release]);
  url = `http://127.0.0.1:${site.port}/good`;

  // the hook as prepare-host writes it
  const l = hookLayout(chroot);
  for (const d of [path.dirname(l.postinst), path.dirname(l.postrm), l.confDir]) await fs.mkdirp(d);
  await fs.writeFile(l.postinst, HOOK_SH, { mode: 0o755 });
  await fs.writeFile(l.postrm, HOOK_SH, { mode: 0o755 });
  await writeConfig(url);
  const dep = await inChroot('dpkg', '-i', '/tmp/fake-initramfs.deb');
  assert.is(dep.exitCode, 0, dep.stderr);
});

test.after(async () => {
  await site?.close();
  if (tmp && !process.env.NBDFORGE_KEEP_VM_SHARE) await fs.remove(tmp);
});

test('dpkg -i of a real linux-image package runs the hook: the store\'s module lands byte-identical and indexed; dpkg -r removes exactly it; source down: the package still installs', async () => {
  const mod = path.join(chroot, 'lib/modules', art.release, 'extra/nbd.ko');
  const i = await inChroot('dpkg', '-i', '/tmp/linux-image-nonbd.deb');
  console.log(i.stdout.replace(/^/gm, '    ') + i.stderr.replace(/^/gm, '    '));
  assert.is(i.exitCode, 0, i.stdout + i.stderr);
  assert.match(i.stderr + i.stdout, new RegExp(`\\[nbdforge hook\\] ${art.release.replace(/\./g, '\\.')}: installed `));
  assert.equal(await fs.readFile(mod), art.bytes, 'byte-identical to the store');
  assert.match(await fs.readFile(path.join(chroot, 'lib/modules', art.release, 'modules.dep'), 'utf8'), /^extra\/nbd\.ko:/m);

  const r = await inChroot('dpkg', '-r', `linux-image-${art.release}`);
  assert.is(r.exitCode, 0, r.stdout + r.stderr);
  assert.match(r.stderr + r.stdout, /removed .*extra\/nbd\.ko/);
  assert.not.ok(await fs.pathExists(path.dirname(mod)), 'the module and the extra/ it made are gone');

  await writeConfig('http://127.0.0.1:9/good');
  const down = await inChroot('dpkg', '-i', '/tmp/linux-image-nonbd.deb');
  assert.is(down.exitCode, 0, down.stdout + down.stderr);
  assert.match(down.stderr + down.stdout, /source unreachable: /);
  assert.not.ok(await fs.pathExists(mod));
  assert.match(await inChroot('dpkg-query', '-W', '-f', '${Status}', `linux-image-${art.release}`).then((q) => q.stdout), /install ok installed/);

  await inChroot('dpkg', '-r', `linux-image-${art.release}`);
  await writeConfig(url);
  const shipped = await inChroot('dpkg', '-i', '/tmp/linux-image-stock.deb');
  assert.is(shipped.exitCode, 0, shipped.stdout + shipped.stderr);
  assert.match(shipped.stderr + shipped.stdout, /ships its own nbd: nothing to do/);
  assert.not.ok(await fs.pathExists(mod));
});

test.run();
