/**
 * `apt:DIR` end to end: real nbd.ko artifacts of the two newest debian12 kernels (built by the real
 * pipeline, cached), published with dpkg-deb + apt-ftparchive + gpg, then installed by real apt in
 * a container of the bookworm base image with the repository mounted (file: URI), the
 * generated nbdforge.sources (inline Signed-By) as its only trust anchor.
 *
 * linux-image-<release>: a stub package made here with dpkg-deb (Depends: kmod, like the real
 * one) is installed first with `apt-get install ./stub.deb`, so the dependency is satisfied
 * without a 70 MB kernel image; kmod itself comes from the Debian archive the image lists.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { createTarget } from '../../src/publish/apt/index.ts';
import { PublishRefusedError } from '../../src/publish/package-channel.ts';
import type { PublishItem, PublishTarget } from '../../src/publish/target.ts';
import { ownerLabels } from '../../src/docker/engine.ts';
import { resolvePaths } from '../../src/paths.ts';
import { debianModules, exists, publishItems, storeWith, type BuiltModule } from '../fixtures/publish/built-modules.ts';
import { makeTestKeys, type TestKeys } from '../fixtures/publish/gpg-keys.ts';
import { recordedTarget } from '../fixtures/publish/recorded-target.ts';
import { proveStoreFixture } from '../fixtures/proof.ts';
import { loadItem } from '../../src/publish/select.ts';

const q = $({ quiet: true });
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-pub-apt-'));
await fs.chmod(dir, 0o755); // apt's _apt user reads the mounted repository
const repo = path.join(dir, 'apt');
const IMAGE = process.env.NBDFORGE_DEBIAN_BASE ?? 'debian:bookworm';
let mods: BuiltModule[];
let keys: TestKeys;
let items: PublishItem[];
let container = '';

// The publish records live in this store: the target is rebuilt from them on every run.
const records = path.join(dir, 'records-store');
const target = (spec: string, o: { family?: string; gpgKey?: string; unsigned?: boolean; pruneForeign?: boolean; now?: () => Date } = {}): PublishTarget =>
  recordedTarget(
    createTarget(spec, { family: o.family ?? 'debian12', gpgKey: o.gpgKey, unsigned: o.unsigned, pruneForeign: o.pruneForeign, now: o.now, env: keys.env, paths: { ...resolvePaths(keys.env), store: records } }),
    records,
    o.gpgKey ?? '',
  );
const listing = async (d: string) => ((await exists(d)) ? (await fs.readdir(d, { recursive: true })).sort() : []);
/** Run a shell command in the test container; never throws (the exit code is asserted). */
const sh = (cmd: string) => $({ quiet: true, nothrow: true })`docker exec ${container} sh -c ${cmd}`;

test.before(async () => {
  mods = await debianModules(2);
  keys = await makeTestKeys(dir);
  items = [];
  for (const m of mods) items.push(...(await publishItems(m.store)).filter((i) => i.entry.key === m.entry.key));
  // the first kernel travels with a proof: a private copy of its artifact (the shared fixture store
  // stays unproven) given a fixture proof record of its real sha256
  const own = await storeWith(path.join(dir, 'proven-store'), [{ mod: mods[0], family: 'debian12', kernelRelease: mods[0].entry.kernelRelease }]);
  await proveStoreFixture(own.root);
  items[0] = await loadItem(own, (await own.list())[0]);
  assert.ok(items[0].proof);
});

test.after(async () => {
  if (container) await q`docker rm -f ${container}`.nothrow();
  await keys?.stop();
  await q`umount ${path.join(dir, 'ro')}`.nothrow();
  await fs.rm(dir, { recursive: true, force: true });
});

test('refused before any work, nothing written: el7 family, missing key, read-only dir', async () => {
  const el7 = await publishItems(await storeWith(path.join(dir, 'store-el7'), [{ mod: mods[0], family: 'el7', kernelRelease: '6.1.0-56.el7.x86_64' }]));
  const fresh = path.join(dir, 'fresh');
  const refused = async (t: PublishTarget, its: PublishItem[], re: RegExp, where: string) => {
    const err = await t.publish(its, () => {}).catch((e) => e);
    assert.instance(err, PublishRefusedError, String(err));
    assert.match(err.message, re);
    assert.equal(await listing(where), [], `${where} was written`);
  };
  await refused(target(fresh, { family: 'el7' }), el7, /apt:.* refuses family el7 \(6\.1\.0-56\.el7\.x86_64\): el7 publishes to yum:DIR/, fresh);
  await refused(target(fresh), el7, /refuses family el7/, fresh);
  await refused(target(fresh, { gpgKey: 'ABCDEF0123456789' }), items, /gpg key ABCDEF0123456789: no secret key in GNUPGHOME=/, fresh);
  const ro = path.join(dir, 'ro');
  await fs.mkdir(ro);
  await q`mount -t tmpfs -o ro,size=1m nbdforge-test ${ro}`;
  await refused(target(ro, { gpgKey: keys.main.fingerprint }), items, /apt:.*\/ro is not writable \(EROFS/, ro);
});

let published: Awaited<ReturnType<PublishTarget['publish']>>;
test('publish two kernels signed: one nbd-modules-<release> each, Packages, Release, InRelease, nbdforge.sources', async () => {
  const t0 = Date.now();
  // Ed25519 is fine for apt (unlike rpm 4.11): the test signs with it.
  published = await target(repo, { gpgKey: keys.ed25519.fingerprint }).publish(items, () => {});
  console.error(`[publish-apt] publish ${items.length} kernels signed: ${Date.now() - t0} ms`);
  assert.is(published.length, 2);
  for (const [i, m] of mods.entries()) {
    const o = published.find((x) => x.kernelRelease === m.entry.kernelRelease)!;
    assert.match(o.ref, new RegExp(`^pool/nbd-modules-${m.entry.kernelRelease}_\\d{8}\\.\\d{6}\\+[0-9a-f]{12}_amd64\\.deb$`));
    const deb = path.join(repo, o.ref);
    assert.is(o.bytesSent, (await fs.stat(deb)).size);
    const f = (field: string) => q`dpkg-deb -f ${deb} ${field}`.then((r) => r.stdout.trim());
    assert.is(await f('Package'), `nbd-modules-${m.entry.kernelRelease}`);
    assert.is(await f('Depends'), `linux-image-${m.entry.kernelRelease}`);
    const files = (await q`dpkg-deb -c ${deb}`).stdout;
    assert.match(files, new RegExp(`\\./lib/modules/${m.entry.kernelRelease}/updates/nbd\\.ko\\n`));
    const x = path.join(dir, `x${i}`);
    await q`dpkg-deb -x ${deb} ${x}`;
    assert.is((await q`sha256sum ${path.join(x, 'lib/modules', m.entry.kernelRelease, 'updates/nbd.ko')}`).stdout.split(' ')[0], m.manifest.sha256);
    const ctl = path.join(dir, `c${i}`);
    await q`dpkg-deb -e ${deb} ${ctl}`;
    assert.match(await fs.readFile(path.join(ctl, 'postinst'), 'utf8'), new RegExp(`depmod -a ${m.entry.kernelRelease}`));
    assert.match(await fs.readFile(path.join(ctl, 'postrm'), 'utf8'), new RegExp(`depmod -a ${m.entry.kernelRelease}`));
    assert.not.match(await fs.readFile(path.join(ctl, 'postinst'), 'utf8'), /modprobe|insmod/);
    // the proof: a doc file byte-identical to the store's proof.json and a line in the description; the other kernel says it has none
    const doc = path.join(x, 'usr/share/doc', `nbd-modules-${m.entry.kernelRelease}`, 'proof.json');
    if (i === 0) {
      assert.ok((await fs.readFile(doc)).equals(items[0].proof!.bytes));
      assert.match(String(await f('Description')), new RegExp(`^ Loaded and used in its own kernel: proven in ${m.entry.kernelRelease} on 2026-12-01 key [0-9a-f]{12} \\(/usr/share/doc/nbd-modules-${m.entry.kernelRelease}/proof\\.json\\)\\.$`, 'm'));
      assert.match(await fs.readFile(path.join(ctl, 'md5sums'), 'utf8'), new RegExp(`  usr/share/doc/nbd-modules-${m.entry.kernelRelease}/proof\\.json\n`));
    } else {
      assert.not.ok(await exists(doc));
      assert.match(String(await f('Description')), /^ Not proven in its own kernel/m);
    }
  }
  for (const f of ['Packages', 'Packages.gz', 'Release', 'InRelease', 'Release.gpg', 'nbdforge.sources', 'nbdforge-archive-keyring.asc']) assert.ok(await exists(path.join(repo, f)), f);
  // gpgv with only the published key: the detached and the inline signatures both verify.
  const ring = path.join(dir, 'ring.gpg');
  await q`gpg --batch --homedir ${keys.home} --dearmor --output ${ring} ${path.join(repo, 'nbdforge-archive-keyring.asc')}`;
  await q`gpgv --keyring ${ring} ${path.join(repo, 'Release.gpg')} ${path.join(repo, 'Release')}`;
  await q`gpgv --keyring ${ring} ${path.join(repo, 'InRelease')}`;
  const src = await fs.readFile(path.join(repo, 'nbdforge.sources'), 'utf8');
  assert.match(src, new RegExp(`^URIs: file://${repo}/$`, 'm'));
  assert.match(src, /^Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n \.\n/m);
  assert.not.ok((await fs.readdir(repo)).some((f) => f.startsWith('.nbdforge')), 'scratch and lock files are gone');
});

test('real apt in a bookworm container: update verifies InRelease, install lands the module byte-identical, purge removes it', async () => {
  const krel = mods[0].entry.kernelRelease;
  // The stand-in kernel package.
  const stub = path.join(dir, 'stub');
  await fs.mkdir(path.join(stub, 'root/DEBIAN'), { recursive: true });
  await fs.mkdir(path.join(stub, 'root/lib/modules', krel), { recursive: true });
  await fs.writeFile(path.join(stub, 'root/DEBIAN/control'),
    `Package: linux-image-${krel}\nVersion: 0~nbdforge.stub\nArchitecture: amd64\nMaintainer: nbdforge test <test@localhost>\nDepends: kmod\nDescription: stand-in kernel for the nbdforge apt test\n stand-in\n`);
  await q`dpkg-deb --root-owner-group --build ${path.join(stub, 'root')} ${path.join(stub, 'stub.deb')}`;
  const labels = Object.entries({ ...ownerLabels(), 'nbdforge.test': 'publish-apt' }).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  container = (await q`docker run -d ${labels} -v ${`${repo}:${repo}:ro`} -v ${`${stub}:/stub:ro`} ${IMAGE} sleep infinity`).stdout.trim();
  assert.is((await sh(`cp ${repo}/nbdforge.sources /etc/apt/sources.list.d/`)).exitCode, 0);
  const t0 = Date.now();
  const up = await sh('apt-get update 2>&1');
  assert.is(up.exitCode, 0, up.stdout);
  assert.match(up.stdout, new RegExp(`Get:\\d+ file:${repo} \\./ InRelease`), up.stdout);
  assert.not.match(up.stdout, /^(W|E|Err):.*file:/m, up.stdout);
  const s = await sh('DEBIAN_FRONTEND=noninteractive apt-get install -y /stub/stub.deb 2>&1');
  assert.is(s.exitCode, 0, s.stdout);
  const inst = await sh(`DEBIAN_FRONTEND=noninteractive apt-get install -y nbd-modules-${krel} 2>&1`);
  assert.is(inst.exitCode, 0, inst.stdout);
  console.error(`[publish-apt] apt-get update + install in the container: ${Date.now() - t0} ms`);
  const sum = await sh(`sha256sum /lib/modules/${krel}/updates/nbd.ko`);
  assert.is(sum.stdout.split(' ')[0], mods[0].manifest.sha256, 'installed module is byte-identical to the store');
  assert.match((await sh(`cat /lib/modules/${krel}/modules.dep`)).stdout, /^updates\/nbd\.ko:/m, 'postinst ran depmod');
  assert.match((await sh(`dpkg-query -W -f '\${Status}' nbd-modules-${krel}`)).stdout, /install ok installed/);
  const proof = await sh(`sha256sum /usr/share/doc/nbd-modules-${krel}/proof.json`);
  assert.is(proof.stdout.split(' ')[0], items[0].manifest.proof!.sha256, 'the proof arrived through apt beside the module');
  const purge = await sh(`DEBIAN_FRONTEND=noninteractive apt-get purge -y nbd-modules-${krel} 2>&1`);
  assert.is(purge.exitCode, 0, purge.stdout);
  assert.is((await sh(`test -e /lib/modules/${krel}/updates/nbd.ko`)).exitCode, 1, 'module removed');
  assert.not.match((await sh(`cat /lib/modules/${krel}/modules.dep`)).stdout, /nbd/, 'postrm ran depmod');
  assert.not.match((await sh(`dpkg-query -W -f '\${Status}' nbd-modules-${krel} 2>&1`)).stdout, /installed/);
});

test('apt refuses the repository when its InRelease is signed by another key', async () => {
  const bad = path.join(dir, 'apt-other-key');
  await q`cp -a ${repo} ${bad}`;
  await fs.rm(path.join(bad, 'InRelease'));
  await fs.rm(path.join(bad, 'Release.gpg'));
  await q`gpg --batch --homedir ${keys.home} --local-user ${keys.other.fingerprint} --clearsign --output ${path.join(bad, 'InRelease')} ${path.join(bad, 'Release')}`;
  // The container sees the bad copy where the good one was (its sources file is unchanged).
  await q`docker cp ${path.join(bad, 'InRelease')} ${`${container}:/tmp/InRelease`}`;
  const src = (await sh(`sed 's#${repo}#/srv/bad#' ${repo}/nbdforge.sources`)).stdout;
  await fs.writeFile(path.join(dir, 'bad.sources'), src);
  await q`docker cp ${path.join(dir, 'bad.sources')} ${`${container}:/etc/apt/sources.list.d/nbdforge.sources`}`;
  assert.is((await sh(`rm -f /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; mkdir -p /srv/bad && cp -a ${repo}/. /srv/bad/ && rm /srv/bad/Release.gpg && cp /tmp/InRelease /srv/bad/InRelease`)).exitCode, 0);
  const up = await sh('apt-get update 2>&1');
  assert.is.not(up.exitCode, 0, up.stdout);
  assert.match(up.stdout, /NO_PUBKEY|not signed|couldn't be verified/i, up.stdout);
  const inst = await sh(`DEBIAN_FRONTEND=noninteractive apt-get install -y nbd-modules-${mods[0].entry.kernelRelease} 2>&1`);
  assert.is.not(inst.exitCode, 0, inst.stdout);
});

test('re-publish one kernel rebuilt: the pool keeps one package per kernel, Packages lists each once', async () => {
  const again = await target(repo, { gpgKey: keys.ed25519.fingerprint }).publish([{ ...items[0], manifest: { ...items[0].manifest, createdAt: new Date().toISOString() } }], () => {});
  const pool = (await fs.readdir(path.join(repo, 'pool'))).sort();
  assert.is(pool.length, 2, pool.join(' '));
  assert.ok(pool.includes(path.basename(again[0].ref)));
  const pk = await fs.readFile(path.join(repo, 'Packages'), 'utf8');
  assert.is([...pk.matchAll(/^Package: /gm)].length, 2);
});

test('publish of 6 kernels (the same module under six releases): timing', async () => {
  const rels = [...Array(6).keys()].map((i) => `6.1.0-${90 + i}-amd64`);
  const its = await publishItems(await storeWith(path.join(dir, 'store6'), rels.map((kernelRelease) => ({ mod: mods[0], family: 'debian12', kernelRelease }))));
  const t0 = Date.now();
  const out = await target(path.join(dir, 'apt6'), { gpgKey: keys.main.fingerprint }).publish(its, () => {});
  console.error(`[publish-apt] publish 6 kernels signed: ${Date.now() - t0} ms, ${out.reduce((n, o) => n + o.bytesSent, 0)} bytes`);
  assert.is(out.length, 6);
});

test('a stored module whose bytes no longer match its manifest: refused, the repository unchanged', async () => {
  const its = await publishItems(await storeWith(path.join(dir, 'store-tampered'), [{ mod: mods[0], family: 'debian12', kernelRelease: '6.1.0-99-amd64' }]));
  await fs.chmod(its[0].modulePath, 0o644);
  const b = await fs.readFile(its[0].modulePath);
  b[100] ^= 1;
  await fs.writeFile(its[0].modulePath, b);
  const before = await listing(repo);
  const rel = await fs.readFile(path.join(repo, 'InRelease'));
  const err = await target(repo, { gpgKey: keys.ed25519.fingerprint }).publish(its, () => {}).catch((e) => e);
  assert.match(String(err?.message), /nbd\.ko: sha256 [0-9a-f]{64} does not match its manifest .* nothing published for 6\.1\.0-99-amd64/);
  assert.equal(await listing(repo), before);
  assert.equal(await fs.readFile(path.join(repo, 'InRelease')), rel);
});

test('without --gpg-key: no InRelease; the sources file says Trusted: yes only with --unsigned, and what that means', async () => {
  const plain = path.join(dir, 'plain');
  await target(plain).publish(items.slice(0, 1), () => {});
  assert.not.ok(await exists(path.join(plain, 'InRelease')));
  const src = await fs.readFile(path.join(plain, 'nbdforge.sources'), 'utf8');
  assert.match(src, /UNSIGNED and not trusted/);
  assert.not.match(src, /Trusted: yes/);
  // Real apt: an unsigned repository without Trusted: yes is refused.
  const c = (await q`docker run -d ${['--label', 'nbdforge.test=publish-apt', ...Object.entries(ownerLabels()).flatMap(([k, v]) => ['--label', `${k}=${v}`])]} -v ${`${plain}:${plain}:ro`} ${IMAGE} sleep infinity`).stdout.trim();
  try {
    const x = (cmd: string) => $({ quiet: true, nothrow: true })`docker exec ${c} sh -c ${cmd}`;
    await x(`rm -f /etc/apt/sources.list.d/* /etc/apt/sources.list; cp ${plain}/nbdforge.sources /etc/apt/sources.list.d/`);
    const up = await x('apt-get update 2>&1');
    assert.match(up.stdout, /is not signed/, up.stdout);
    assert.match((await x('apt-cache policy nbd-modules-' + mods[0].entry.kernelRelease)).stdout, /^$|Candidate: \(none\)/, 'nothing from the untrusted repository');
    const plain2 = path.join(dir, 'plain-unsigned');
    await target(plain2, { unsigned: true }).publish(items.slice(0, 1), () => {});
    const src2 = await fs.readFile(path.join(plain2, 'nbdforge.sources'), 'utf8');
    assert.match(src2, /^Trusted: yes$/m);
    assert.match(src2, /published with --unsigned.*without any signature check/s);
  } finally {
    await q`docker rm -f ${c}`.nothrow();
  }
});

test('Valid-Until: a signed tree published 40 days ago (the default 30-day validity) is refused by real apt as expired', async () => {
  const old = path.join(dir, 'apt-old');
  await target(old, { gpgKey: keys.ed25519.fingerprint, now: () => new Date(Date.now() - 40 * 86_400_000) }).publish(items.slice(0, 1), () => {});
  assert.match(await fs.readFile(path.join(old, 'InRelease'), 'utf8'), /^Valid-Until: /m);
  const fresh = path.join(dir, 'apt-fresh');
  await target(fresh, { gpgKey: keys.ed25519.fingerprint }).publish(items.slice(0, 1), () => {});
  const labels = Object.entries({ ...ownerLabels(), 'nbdforge.test': 'publish-apt' }).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  const c = (await q`docker run -d ${labels} -v ${`${old}:${old}:ro`} -v ${`${fresh}:${fresh}:ro`} ${IMAGE} sleep infinity`).stdout.trim();
  try {
    const x = (cmd: string) => $({ quiet: true, nothrow: true })`docker exec ${c} sh -c ${cmd}`;
    await x(`rm -f /etc/apt/sources.list.d/* /etc/apt/sources.list; cp ${old}/nbdforge.sources /etc/apt/sources.list.d/`);
    const up = await x('apt-get update 2>&1');
    assert.match(up.stdout, /is expired/, up.stdout);
    assert.match((await x(`apt-cache policy nbd-modules-${mods[0].entry.kernelRelease}`)).stdout, /^$|Candidate: \(none\)/);
    await x(`cp ${fresh}/nbdforge.sources /etc/apt/sources.list.d/`);
    const up2 = await x('apt-get update 2>&1');
    assert.is(up2.exitCode, 0, up2.stdout);
    assert.not.match(up2.stdout, /expired/);
  } finally {
    await q`docker rm -f ${c}`.nothrow();
  }
});

test('a planted nbd-modules-<release> .deb at version 99999999 in pool/: refused naming it, never in InRelease; --prune-foreign moves it aside; apt installs nbdforge\'s package', async () => {
  const krel = mods[0].entry.kernelRelease;
  const site = path.join(dir, 'apt-planted');
  await target(site, { gpgKey: keys.ed25519.fingerprint }).publish(items.slice(0, 1), () => {});
  const evil = path.join(dir, 'evil');
  await fs.mkdir(path.join(evil, 'DEBIAN'), { recursive: true });
  await fs.writeFile(path.join(evil, 'DEBIAN/control'), `Package: nbd-modules-${krel}\nVersion: 99999999\nArchitecture: amd64\nMaintainer: x <x@localhost>\nDescription: planted\n planted\n`);
  await fs.writeFile(path.join(evil, 'DEBIAN/postinst'), '#!/bin/sh\ntouch /pwned\n', { mode: 0o755 });
  await fs.chmod(evil, 0o755);
  const planted = `pool/nbd-modules-${krel}_99999999_amd64.deb`;
  await q`dpkg-deb --root-owner-group --build ${evil} ${path.join(site, planted)}`;
  const before = await listing(site);
  const inRelease = await fs.readFile(path.join(site, 'InRelease'));
  const err = await target(site, { gpgKey: keys.ed25519.fingerprint }).publish(items.slice(1), () => {}).catch((e) => e);
  assert.instance(err, PublishRefusedError, String(err));
  assert.ok(err.message.includes(`"${planted}": a package nbdforge did not publish here`), err.message);
  assert.equal(await listing(site), before);
  assert.equal(await fs.readFile(path.join(site, 'InRelease')), inRelease);

  await target(site, { gpgKey: keys.ed25519.fingerprint, pruneForeign: true }).publish(items.slice(1), () => {});
  assert.not.ok(await exists(path.join(site, planted)));
  assert.ok((await listing(site)).some((f) => f.startsWith('.nbdforge-foreign-') && f.endsWith(path.basename(planted))), 'moved aside');
  assert.not.match(await fs.readFile(path.join(site, 'InRelease'), 'utf8'), /99999999/);
  assert.not.match(await fs.readFile(path.join(site, 'Packages'), 'utf8'), /99999999/);

  // Real apt, trusting only the published key: the candidate is nbdforge's build, the planted postinst never runs.
  const labels = Object.entries({ ...ownerLabels(), 'nbdforge.test': 'publish-apt' }).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  const c = (await q`docker run -d ${labels} -v ${`${site}:${site}:ro`} -v ${`${path.join(dir, 'stub')}:/stub:ro`} ${IMAGE} sleep infinity`).stdout.trim();
  try {
    const x = (cmd: string) => $({ quiet: true, nothrow: true })`docker exec ${c} sh -c ${cmd}`;
    assert.is((await x(`cp ${site}/nbdforge.sources /etc/apt/sources.list.d/`)).exitCode, 0);
    const up = await x('apt-get update 2>&1');
    assert.is(up.exitCode, 0, up.stdout);
    assert.is((await x('DEBIAN_FRONTEND=noninteractive apt-get install -y /stub/stub.deb 2>&1')).exitCode, 0);
    const inst = await x(`DEBIAN_FRONTEND=noninteractive apt-get install -y nbd-modules-${krel} 2>&1`);
    assert.is(inst.exitCode, 0, inst.stdout);
    assert.match((await x(`dpkg-query -W -f '\${Version}' nbd-modules-${krel}`)).stdout, /^\d{8}\.\d{6}\+[0-9a-f]{12}$/);
    assert.is((await x('test -e /pwned')).exitCode, 1, 'the planted postinst never ran');
    assert.is((await x(`sha256sum /lib/modules/${krel}/updates/nbd.ko`)).stdout.split(' ')[0], mods[0].manifest.sha256);
  } finally {
    await q`docker rm -f ${c}`.nothrow();
  }
});

test.run();
