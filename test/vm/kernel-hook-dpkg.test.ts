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
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { testReleases } from '../../scripts/vm/harness.ts';
import { vmCacheDir } from '../../scripts/vm/harness.ts';
import { ensureKernel } from '../../scripts/vm/kernels.ts';
import { ROOT, STORE, CLI, artifactFor, type Artifact } from './helpers.ts';
import { hookLayout } from '../../src/host/kernel-hook/layout.ts';
import { renderHookConfig, HOOK_SH } from '../../src/host/kernel-hook/config.ts';
import { parseOptions } from '../../src/host/prepare-host/options.ts';
import { parseDeb822Sources, parseOneLineSources, releaseMirror } from '../../src/setup/apt-sources.ts';

$.verbose = false;
let tmp = '';
let chroot = '';
let gnupg = '';
let server: http.Server;
let art: Artifact;
let url = '';
let fpr = '';
let stock = '';
let nonbd = '';

async function hostMirror(): Promise<string> {
  const dir = '/etc/apt/sources.list.d';
  const sources = [];
  for (const f of await fs.readdir(dir).catch(() => [] as string[])) {
    const text = await fs.readFile(path.join(dir, f), 'utf8');
    if (f.endsWith('.sources')) sources.push(...parseDeb822Sources(text));
    else if (f.endsWith('.list')) sources.push(...parseOneLineSources(text));
  }
  if (await fs.pathExists('/etc/apt/sources.list')) sources.push(...parseOneLineSources(await fs.readFile('/etc/apt/sources.list', 'utf8')));
  return releaseMirror(sources, 'bookworm');
}

const inChroot = (...argv: string[]) => $({ nothrow: true, env: { ...process.env, PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } })`chroot ${chroot} ${argv}`;

async function writeConfig(from: string): Promise<void> {
  const l = hookLayout(chroot);
  await fs.writeFile(l.conf, renderHookConfig({ from, fingerprint: fpr, family: 'debian12', options: parseOptions('nbds_max=16 max_part=15'), preparedFor: art.release }) + '\n', { mode: 0o600 });
}

test.before(async () => {
  art = await artifactFor((await testReleases()).newest);
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-hook-dpkg-'));
  chroot = path.join(tmp, 'root');
  await $`debootstrap --variant=minbase --include=kmod,linux-base,curl bookworm ${chroot} ${await hostMirror()}`;

  // the real package, and the same package without its own nbd.ko (maintainer scripts untouched)
  await ensureKernel(art.release, vmCacheDir());
  const debs = path.join(vmCacheDir(), 'debs');
  stock = path.join(debs, (await fs.readdir(debs)).find((f: string) => f.startsWith(`linux-image-${art.release}_`) && f.endsWith('.deb'))!);
  const x = path.join(tmp, 'repack');
  await $`dpkg-deb -R ${stock} ${x}`;
  await fs.remove(path.join(x, 'lib/modules', art.release, 'kernel/drivers/block/nbd.ko'));
  const sums = path.join(x, 'DEBIAN/md5sums');
  await fs.writeFile(sums, (await fs.readFile(sums, 'utf8')).split('\n').filter((l: string) => !l.endsWith('/nbd.ko')).join('\n'));
  nonbd = path.join(chroot, 'tmp/linux-image-nonbd.deb');
  await $`dpkg-deb -Znone -b ${x} ${nonbd}`;
  await fs.remove(x);
  await fs.copy(stock, path.join(chroot, 'tmp/linux-image-stock.deb'));
  // linux-image depends on initramfs-tools | linux-initramfs-tool: a tiny package provides the latter
  const fake = path.join(tmp, 'fake-initramfs');
  await fs.mkdirp(path.join(fake, 'DEBIAN'));
  await fs.writeFile(path.join(fake, 'DEBIAN/control'), 'Package: nbdforge-test-initramfs\nVersion: 1\nArchitecture: all\nMaintainer: nbdforge tests <t@nbdforge.invalid>\nProvides: linux-initramfs-tool\nDescription: stands in for initramfs-tools in a test chroot\n');
  await $`dpkg-deb -b ${fake} ${path.join(chroot, 'tmp/fake-initramfs.deb')}`;

  const site = path.join(tmp, 'site');
  server = http.createServer(async (req, res) => {
    const file = path.join(site, path.normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    if (!file.startsWith(site + path.sep)) return void res.writeHead(403).end();
    try {
      const data = await fs.readFile(file);
      res.writeHead(200, { 'content-length': data.length }).end(data);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/good`;
  gnupg = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-gnupg-'));
  await fs.chmod(gnupg, 0o700);
  const env = { ...process.env, GNUPGHOME: gnupg };
  execFileSync('gpg', ['--batch', '--quiet', '--passphrase', '', '--quick-gen-key', 'nbdforge vm test <vm@nbdforge.invalid>', 'ed25519', 'sign', 'never'], { env, stdio: 'ignore' });
  fpr = execFileSync('gpg', ['--batch', '--with-colons', '--list-secret-keys'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').find((l) => l.startsWith('fpr:'))!.split(':')[9];
  const r = await $({ cwd: ROOT, env, nothrow: true })`node ${CLI} publish --store ${STORE} --kernels ${art.release} --to ${`dir:${path.join(site, 'good')}`} --gpg-key ${fpr}`;
  assert.is(r.exitCode, 0, r.stderr + r.stdout);

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
  server?.close();
  if (gnupg) await fs.remove(gnupg);
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
