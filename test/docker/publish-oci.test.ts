/**
 * The oci target against real parts on 127.0.0.1: Debian's docker-registry (started here, with and
 * without htpasswd auth), skopeo as an independent client, the Docker engine running the commands
 * KMM's worker runs, and kmod's modprobe resolving nbd from the copied tree. The modules are real
 * debian12 builds (a cache hit once built). Bytes on the wire are counted by a relay, not by us.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { resolvePaths } from '../../src/paths.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { createTarget, nbdforgeVersion, pushOne } from '../../src/publish/oci/index.ts';
import { baseLayer, buildItem } from '../../src/publish/oci/build-image.ts';
import { RegistryClient } from '../../src/publish/oci/client.ts';
import { getBlob, getManifest, hasBlob, listTags } from '../../src/publish/oci/api.ts';
import { parseReference } from '../../src/publish/oci/reference.ts';
import { findBusybox, moduleTreeEntries } from '../../src/publish/oci/contents.ts';
import { buildLayer } from '../../src/publish/oci/layer.ts';
import { moduleImage, proofArtifact, PROOF_RECORD, PROOF_SUFFIX } from '../../src/publish/oci/image.ts';
import { loadItem } from '../../src/publish/select.ts';
import { proveStoreFixture } from '../fixtures/proof.ts';
import { createHash } from 'node:crypto';
import { parseImageConfig, parseImageManifest } from '../../src/publish/oci/read-image.ts';
import type { PublishOutcome, TargetOptions } from '../../src/publish/target.ts';
import { moduleSchema, validate, validateObjectMeta } from '../fixtures/kmm/structural-schema.ts';
import { freePort, itemsFrom, startRegistry, type Registry } from './oci-registry.ts';
import { startProxy, type Proxy } from './oci-proxy.ts';
import { startTokenService } from './oci-token-service.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'bin/nbdforge.js');
const STORE = process.env.NBDFORGE_TEST_STORE ?? path.join(resolvePaths(process.env).home, 'test-oci', 'store');
const KERNELS = (process.env.NBDFORGE_TEST_OCI_KERNELS ?? '6.1.0-47-amd64,6.1.0-55-amd64').split(',');
const KMOD_IMAGE = 'nbdforge-test-kmod:bookworm';
const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-oci-'));
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(CLI, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
/** For commands that talk to a server living in this process (spawnSync would block it). */
const cliAsync = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const c = spawn(CLI, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr!.on('data', (d) => (stderr += d));
    c.on('exit', (status) => resolve({ status, stderr }));
  });
const sh = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.error}`);
  return r.stdout;
};

for (const k of KERNELS) {
  const r = cli(['build', '--family', 'debian12', '--kernel', k, '--store', STORE]);
  if (r.status !== 0) throw new Error(`building ${k} for the oci tests failed: ${r.stderr}`);
}
const items = await itemsFrom(STORE, KERNELS);
const reg: Registry = await startRegistry();
const proxy: Proxy = await startProxy(reg.port);
const opts = (extra: Partial<TargetOptions> = {}): TargetOptions => ({ family: 'debian12', env: { HOME: tmp }, paths: resolvePaths(process.env, { store: STORE }), ...extra });
const pushed: Record<string, PublishOutcome> = {};
let firstBytes = 0;
let busyboxDigest = '';
let busyboxSize = 0;
const cleanup: Array<() => Promise<unknown>> = [];

test.after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
  await proxy.close();
  await reg.stop();
  await fs.rm(tmp, { recursive: true, force: true });
});

test(`first publish of ${KERNELS.join(', ')}: every blob once, the busybox layer shared, our count = the wire's`, async () => {
  assert.is(items.length, KERNELS.length);
  const target = createTarget(`oci://127.0.0.1:${proxy.port}/nbd`, opts());
  assert.is(target.spec, `oci://127.0.0.1:${proxy.port}/nbd`);
  await target.check(items);
  proxy.seen.length = 0;
  const out = await target.publish(items, () => {});
  for (const o of out) pushed[o.kernelRelease] = o;
  firstBytes = proxy.bodyBytes();
  assert.is(out.reduce((n, o) => n + o.bytesSent, 0), firstBytes);
  const puts = proxy.seen.filter((s) => s.method === 'PUT' && s.url.includes('/blobs/uploads/'));
  const digests = puts.map((s) => new URL(s.url, 'http://x').searchParams.get('digest'));
  assert.is(new Set(digests).size, digests.length, 'no blob uploaded twice');
  assert.ok(puts.every((s) => s.status === 201));
  // Layer 0 is busybox: same digest for every kernel, uploaded once.
  const c = new RegistryClient(parseReference(`${reg.host}/nbd`, { allowTag: false }), { env: {} });
  const m0 = parseImageManifest((await getManifest(c, KERNELS[0])).body, 'test');
  const m1 = parseImageManifest((await getManifest(c, KERNELS[1])).body, 'test');
  busyboxDigest = m0.layers[0].digest;
  busyboxSize = m0.layers[0].size;
  assert.is(m1.layers[0].digest, busyboxDigest);
  assert.is(digests.filter((d) => d === busyboxDigest).length, 1);
  assert.ok(out[1].bytesSent < out[0].bytesSent - busyboxSize + 4096, `second kernel sent ${out[1].bytesSent} bytes`);
  console.log(`  first publish: ${firstBytes} bytes on the wire (${out.map((o) => `${o.kernelRelease} ${o.bytesSent}`).join(', ')})`);
});

test('re-publish: the same digests, nothing rebuilt, only HEAD requests, 0 bytes sent', async () => {
  const target = createTarget(`oci://127.0.0.1:${proxy.port}/nbd`, opts());
  proxy.seen.length = 0;
  const t0 = Date.now();
  const stages: string[] = [];
  const out = await target.publish(items, (e) => stages.push(e.stage));
  const ms = Date.now() - t0;
  assert.equal(stages, KERNELS.map(() => 'present'), 'known digests: nothing rebuilt');
  assert.ok(ms < 2000, `re-publish took ${ms} ms`);
  assert.equal(out.map((o) => o.ref), KERNELS.map((k) => pushed[k].ref));
  assert.equal(out.map((o) => o.bytesSent), KERNELS.map(() => 0));
  assert.is(proxy.bodyBytes(), 0);
  assert.ok(proxy.seen.every((s) => s.method === 'HEAD'), JSON.stringify(proxy.seen.filter((s) => s.method !== 'HEAD')));
  console.log(`  re-publish: ${proxy.seen.length} HEAD requests, 0 bytes, ${ms} ms`);
});

test('skopeo (independent client): same manifest digest, labels, and the layer it copies holds the module byte for byte', async () => {
  for (const [i, k] of KERNELS.entries()) {
    const raw = sh('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/nbd:${k}`]);
    const { createHash } = await import('node:crypto');
    assert.is(`sha256:${createHash('sha256').update(raw).digest('hex')}`, pushed[k].ref);
    const info = JSON.parse(sh('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/nbd:${k}`]));
    assert.is(info.Labels['io.nbdforge.module-sha256'], items[i].manifest.sha256);
    assert.is(info.Labels['io.nbdforge.kernel-release'], k);
    assert.is(info.Architecture, 'amd64');
    const dir = path.join(tmp, `skopeo-${k}`);
    sh('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${reg.host}/nbd:${k}`, `dir:${dir}`]);
    const man = JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8'));
    assert.is(man.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    const out = path.join(tmp, `layer-${k}`);
    await fs.mkdir(out);
    sh('tar', ['-xzf', path.join(dir, man.layers[1].digest.slice(7)), '-C', out]);
    const ko = await fs.readFile(path.join(out, 'opt/lib/modules', k, 'extra/nbd.ko'));
    assert.ok(ko.equals(await fs.readFile(items[i].modulePath)), 'module in the layer differs from the store');
    const dep = await fs.readFile(path.join(out, 'opt/lib/modules', k, 'modules.dep'), 'utf8');
    assert.is(dep, 'extra/nbd.ko:\n');
  }
});

async function ensureKmodImage(): Promise<void> {
  if (spawnSync('docker', ['image', 'inspect', KMOD_IMAGE]).status === 0) return;
  const r = spawnSync('docker', ['build', '-q', '-t', KMOD_IMAGE, '-'], {
    input: 'FROM debian:bookworm\nRUN apt-get update -q && apt-get install -y -q --no-install-recommends kmod && rm -rf /var/lib/apt/lists/*\n',
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`building ${KMOD_IMAGE} failed: ${r.stderr}`);
}

test('Docker pulls the image and runs what KMM runs; modprobe resolves nbd from the copied tree, and not without modules.dep', async () => {
  await ensureKmodImage();
  const k = KERNELS[0];
  const image = `${reg.host}/nbd:${k}`;
  const vol = `nbdforge-test-oci-${process.pid}`;
  cleanup.push(async () => spawnSync('docker', ['volume', 'rm', '-f', vol]), async () => spawnSync('docker', ['rmi', '-f', image]));
  sh('docker', ['pull', '-q', image]);
  // KMM's image existence check and its init container's copy, verbatim in shape.
  sh('docker', ['run', '--rm', image, '/bin/sh', '-c', 'exit 0']);
  sh('docker', ['run', '--rm', '-v', `${vol}:/tmp/opt`, image, '/bin/sh', '-c', `mkdir -p /tmp/opt/lib/modules && cp -R /opt/lib/modules/${k} /tmp/opt/lib/modules`]);
  const plan = sh('docker', ['run', '--rm', '-v', `${vol}:/tmp/opt`, KMOD_IMAGE, 'modprobe', '-n', '-v', '-d', '/tmp/opt', '-S', k, 'nbd']);
  assert.is(plan.trim(), `insmod /tmp/opt/lib/modules/${k}/extra/nbd.ko`);
  const copied = sh('docker', ['run', '--rm', '-v', `${vol}:/tmp/opt`, KMOD_IMAGE, 'sha256sum', `/tmp/opt/lib/modules/${k}/extra/nbd.ko`]);
  assert.is(copied.split(' ')[0], items[0].manifest.sha256);
  // Negative control: the same tree without depmod's files is what KMM reports as "not found".
  const r = spawnSync('docker', ['run', '--rm', '-v', `${vol}:/tmp/opt`, KMOD_IMAGE, 'sh', '-c', `rm /tmp/opt/lib/modules/${k}/modules.dep* && modprobe -n -v -d /tmp/opt -S ${k} nbd`], { encoding: 'utf8' });
  assert.is.not(r.status, 0);
  assert.match(r.stderr, /not found/);
});

test('kmm-module: YAML for the published kernels that validates against KMM CRD schema', async () => {
  const crd = parseYaml(await fs.readFile(path.join(ROOT, 'test/fixtures/kmm/modules-crd.yaml'), 'utf8'));
  const r = cli(['kmm-module', '--image', `${reg.host}/nbd`, '--namespace', 'kmm-operator']);
  assert.is(r.status, 0, r.stderr);
  const mod = parseYaml(r.stdout);
  assert.equal(validate(mod, moduleSchema(crd)), []);
  assert.equal(validateObjectMeta(mod.metadata), []);
  // read from the registry, each kernel says what its image says of its proof: these were published unproven
  assert.equal(mod.metadata, { name: 'nbd', namespace: 'kmm-operator', annotations: Object.fromEntries(KERNELS.map((k) => [`proof.nbdforge.io/${k}`, 'unproven'])) });
  const maps = mod.spec.moduleLoader.container.kernelMappings;
  assert.equal(maps.map((m: { literal: string }) => m.literal), [...KERNELS].sort());
  assert.ok(maps.every((m: { containerImage: string }) => m.containerImage === `${reg.host}/nbd:\${KERNEL_FULL_VERSION}`));
  assert.is(mod.spec.moduleLoader.container.modprobe.moduleName, 'nbd');
  const j = cli(['kmm-module', '--image', `${reg.host}/nbd`, '--namespace', 'kmm-operator', '--json']);
  assert.equal(JSON.parse(j.stdout), mod);
  const given = parseYaml(cli(['kmm-module', '--image', 'reg.example/nbd', '--kernels', KERNELS[0]]).stdout);
  assert.equal(given.spec.moduleLoader.container.kernelMappings, [{ literal: KERNELS[0], containerImage: 'reg.example/nbd:${KERNEL_FULL_VERSION}' }]);
  assert.is(cli(['kmm-module']).status, 2);
});

test('pull: brings an image back, verified, into a fresh store: same module, manifest and debug bytes', async () => {
  const dir = path.join(tmp, 'pulled');
  const r = cli(['pull', `oci://${reg.host}/nbd:${KERNELS[1]}`, '--store', dir, '--json', '--allow-unsigned']);
  assert.is(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.is(res.imageDigest, pushed[KERNELS[1]].ref);
  const store = new DirStore(dir);
  const [entry] = await store.list({ kernelRelease: KERNELS[1] });
  assert.is(entry.sha256, items[1].manifest.sha256);
  assert.equal(await store.readManifest(entry), items[1].manifest);
  assert.ok((await fs.readFile(store.artifactPath(entry))).equals(await fs.readFile(items[1].modulePath)));
  const dbg = items[1].manifest.debugFile;
  assert.ok((await fs.readFile(store.artifactPath(entry, dbg))).equals(await fs.readFile(path.join(path.dirname(items[1].manifestPath), dbg))));
  const byDigest = cli(['pull', `oci://${reg.host}/nbd@${pushed[KERNELS[1]].ref}`, '--store', dir, '--allow-unsigned']);
  assert.is(byDigest.status, 0, byDigest.stderr);
  assert.is(cli(['pull', `oci://${reg.host}/nbd`, '--store', dir, '--allow-unsigned']).status, 2, 'no tag: usage error');
});

test('the proof travels: labels and proof.json in the companion, a kmm-module annotation, pull checks and stores it, and refuses (exit 3) an image whose proof.json was swapped', async () => {
  // a private copy of the store (the shared one stays unproven), KERNELS[0] given a fixture proof record of its real sha256
  const own = path.join(tmp, 'proven-store');
  await fs.cp(STORE, own, { recursive: true });
  const [proof] = await proveStoreFixture(own, (k) => k === KERNELS[0]);
  const ownStore = new DirStore(own);
  const [e0] = await ownStore.list({ kernelRelease: KERNELS[0] });
  const proofBytes = await fs.readFile(ownStore.artifactPath(e0, 'proof.json'));
  const proofSha = createHash('sha256').update(proofBytes).digest('hex');
  const r = cli(['publish', '--store', own, '--to', `oci://${reg.host}/nbd-proven`, '--unsigned', '--kernels', KERNELS.join(','), '--json'], { HOME: tmp });
  assert.is(r.status, 0, r.stderr + r.stdout);
  const out = Object.fromEntries(JSON.parse(r.stdout).targets[0].published.map((p: { kernelRelease: string }) => [p.kernelRelease, p]));
  assert.is(out[KERNELS[0]].proven, true);
  assert.is(out[KERNELS[0]].proof, `proven in ${KERNELS[0]} on 2026-12-01 key ${proof.key.slice(0, 12)}`);
  assert.is(out[KERNELS[1]].proven, false);
  // an independent client reads the labels
  const info = JSON.parse(sh('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/nbd-proven:${KERNELS[0]}`]));
  assert.is(info.Labels['io.nbdforge.proof'], out[KERNELS[0]].proof);
  assert.is(info.Labels['io.nbdforge.proof-sha256'], proofSha);
  assert.is(JSON.parse(sh('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/nbd-proven:${KERNELS[1]}`])).Labels['io.nbdforge.proof'], undefined);
  // the companion carries proof.json byte for byte
  const c = new RegistryClient(parseReference(`${reg.host}/nbd-proven`, { allowTag: false }), { env: {} });
  const companion = parseImageManifest((await getManifest(c, `${KERNELS[0]}${PROOF_SUFFIX}`)).body, 'companion');
  const layer = companion.layers.find((l) => l.mediaType === PROOF_RECORD)!;
  assert.ok((await getBlob(c, layer.digest, 1 << 20)).equals(proofBytes));
  // kmm-module annotates each kernel with its image's proof
  const mod = parseYaml(cli(['kmm-module', '--image', `${reg.host}/nbd-proven`]).stdout);
  assert.equal(mod.metadata.annotations, { [`proof.nbdforge.io/${KERNELS[0]}`]: out[KERNELS[0]].proof, [`proof.nbdforge.io/${KERNELS[1]}`]: 'unproven' });
  assert.equal(validateObjectMeta(mod.metadata), []);
  // pull brings it back checked, and stores the same proof.json beside the module
  const dir = path.join(tmp, 'pulled-proven');
  const p = cli(['pull', `oci://${reg.host}/nbd-proven:${KERNELS[0]}`, '--store', dir, '--allow-unsigned']);
  assert.is(p.status, 0, p.stderr);
  assert.match(p.stdout, new RegExp(`loaded in its own kernel: proven in ${KERNELS[0]} on 2026-12-01 \\(QEMU 7\\.2\\.0-fixture, tcg, 3 checks\\) \\(proof\\.json checked`));
  const pulled = new DirStore(dir);
  const [pe] = await pulled.list();
  assert.ok((await fs.readFile(pulled.artifactPath(pe, 'proof.json'))).equals(proofBytes));
  assert.equal((await pulled.readManifest(pe)).proof, { file: 'proof.json', sha256: proofSha });
  // the same image with another proof.json in its companion (the signed manifest still names the real one): refused
  const item = await loadItem(ownStore, e0);
  const bb = await findBusybox({});
  const built = await buildItem(item, await baseLayer(bb), bb, nbdforgeVersion());
  const swapped = Buffer.from(proofBytes.toString('utf8').replace('"taint": "4096 (O)"', '"taint": "0"'));
  const fake = proofArtifact({
    tag: built.image.tag, subject: built.image, manifestJson: await fs.readFile(item.manifestPath), debug: await fs.readFile(ownStore.artifactPath(e0, item.manifest.debugFile)),
    debugName: item.manifest.debugFile, created: item.manifest.createdAt, proofJson: swapped,
  });
  const evil = new RegistryClient(parseReference(`${reg.host}/nbd-swapped-proof`, { allowTag: false }), { env: {} });
  await pushOne(evil, built.image);
  await pushOne(evil, fake);
  const bad = cli(['pull', `oci://${reg.host}/nbd-swapped-proof:${KERNELS[0]}`, '--store', path.join(tmp, 'swapped-store'), '--allow-unsigned']);
  assert.is(bad.status, 3, bad.stderr);
  assert.match(bad.stderr, /proof\.json has sha256 [0-9a-f]{12}, its artifact manifest says [0-9a-f]{12} \(tampered or damaged\); nothing stored/);
  assert.is(await fs.stat(path.join(tmp, 'swapped-store', 'index.json')).catch(() => null), null);
});

test('a module whose bytes no longer match its manifest is refused before anything is sent', async () => {
  const bad = path.join(tmp, 'tampered.ko');
  const ko = await fs.readFile(items[0].modulePath);
  ko[ko.length - 1] ^= 0xff;
  await fs.writeFile(bad, ko);
  const target = createTarget(`oci://127.0.0.1:${proxy.port}/tampered`, opts());
  proxy.seen.length = 0;
  const err = await target.publish([{ ...items[0], modulePath: bad }], () => {}).catch((e: Error) => e);
  assert.match(String(err), /TargetRefusedError: .*sha256 does not match its manifest; refusing to publish/);
  assert.is((err as { exitCode?: number }).exitCode, 3);
  assert.is(proxy.seen.length, 0);
});

test('pull refuses (exit 3) an image whose module does not match its labels, and one without its proof; nothing stored', async () => {
  const k = KERNELS[0];
  const c = new RegistryClient(parseReference(`${reg.host}/evil`, { allowTag: false }), { env: {} });
  const good = new RegistryClient(parseReference(`${reg.host}/nbd`, { allowTag: false }), { env: {} });
  const gm = parseImageManifest((await getManifest(good, k)).body, 'good');
  const labels = parseImageConfig(await getBlob(good, gm.config.digest, 1 << 20), 'good').labels;
  const ko = await fs.readFile(items[0].modulePath);
  ko[ko.length - 1] ^= 0xff; // the last byte is ELF padding: vermagic still reads right
  const base = await buildLayer([{ path: 'bin/x', type: 'file', data: Buffer.from('x') }]);
  const evil = moduleImage({ tag: k, arch: 'amd64', created: '2000-01-01T00:00:00Z', labels, layers: [base, await buildLayer(await moduleTreeEntries(k, 'nbd', ko))] });
  await pushOne(c, evil);
  const dir = path.join(tmp, 'evil-store');
  const r = cli(['pull', `oci://${reg.host}/evil:${k}`, '--store', dir, '--allow-unsigned']);
  assert.is(r.status, 3, 'refused, nothing touched');
  assert.match(r.stderr, /module sha256 [0-9a-f]{64} differs from the label's/);
  assert.match(r.stderr, /nothing stored/);
  assert.is(await fs.stat(path.join(dir, 'index.json')).catch(() => null), null);
  // The genuine image without its proof: refused too (the store entry needs manifest.json).
  const bb = await findBusybox({});
  const built = await buildItem(items[0], await baseLayer(bb), bb, nbdforgeVersion());
  assert.is(built.image.digest, pushed[k].ref);
  await pushOne(new RegistryClient(parseReference(`${reg.host}/noproof`, { allowTag: false }), { env: {} }), built.image);
  const np = cli(['pull', `oci://${reg.host}/noproof:${k}`, '--store', dir, '--allow-unsigned']);
  assert.is(np.status, 3, np.stderr);
  assert.match(np.stderr, new RegExp(`no proof under tag ${k}\\.nbdforge`));
  assert.is(await fs.stat(path.join(dir, 'index.json')).catch(() => null), null);
});

test('registry down: check and pull fail naming the registry and the fix; nothing stored', async () => {
  const port = await freePort();
  const target = createTarget(`oci://127.0.0.1:${port}/nbd`, opts());
  const err = await target.check(items).catch((e: Error) => e);
  assert.instance(err, Error);
  assert.match(String(err), new RegExp(`oci://127\\.0\\.0\\.1:${port}/nbd: GET .*ECONNREFUSED.*is the registry running`));
  assert.is((err as { exitCode?: number }).exitCode, 3, 'refused before anything was sent');
  const dir = path.join(tmp, 'down-store');
  const r = cli(['pull', `oci://127.0.0.1:${port}/nbd:${KERNELS[0]}`, '--store', dir, '--allow-unsigned']);
  assert.is(r.status, 1);
  assert.match(r.stderr, /^nbdforge pull: oci:\/\/127\.0\.0\.1:\d+\/nbd: .*is the registry running/m);
  assert.is(await fs.stat(dir).catch(() => null), null);
});

test('401: no credentials and wrong ones are refused by name (password never shown); env and docker config credentials work', async () => {
  const auth = await startRegistry({ user: 'forge', password: 'right-pass-1' });
  cleanup.push(() => auth.stop());
  const spec = `oci://${auth.host}/nbd`;
  const none = await createTarget(spec, opts()).check(items).catch((e: Error & { status?: number }) => e);
  assert.is((none as { status?: number }).status, 401);
  assert.match(String(none), new RegExp(`oci://${auth.host}/nbd: 401 Unauthorized.*NBDFORGE_REGISTRY_USERNAME.*docker login ${auth.host}`));
  const wrongEnv = { HOME: tmp, NBDFORGE_REGISTRY_USERNAME: 'forge', NBDFORGE_REGISTRY_PASSWORD: 'wrong-pass-9' };
  const wrong = await createTarget(spec, opts({ env: wrongEnv })).check(items).catch((e: Error) => e);
  assert.match(String(wrong), /401 Unauthorized: the registry refused the credentials from NBDFORGE_REGISTRY_USERNAME\/PASSWORD/);
  assert.not.match(String(wrong) + JSON.stringify(wrong), /wrong-pass-9/);
  const r = cli(['pull', `${spec}:${KERNELS[0]}`, '--store', path.join(tmp, 'auth-none'), '--allow-unsigned'], { ...wrongEnv });
  assert.is(r.status, 1);
  assert.not.match(r.stderr, /wrong-pass-9/);
  const ok = createTarget(spec, opts({ env: { ...wrongEnv, NBDFORGE_REGISTRY_PASSWORD: 'right-pass-1' } }));
  await ok.check(items);
  const out = await ok.publish(items.slice(0, 1), () => {});
  assert.is(out[0].ref, pushed[KERNELS[0]].ref, 'same image, same digest, whatever the registry');
  const cfg = path.join(tmp, 'docker-config');
  await fs.mkdir(cfg);
  await fs.writeFile(path.join(cfg, 'config.json'), JSON.stringify({ auths: { [auth.host]: { auth: Buffer.from('forge:right-pass-1').toString('base64') } } }));
  const p = cli(['pull', `${spec}:${KERNELS[0]}`, '--store', path.join(tmp, 'auth-store'), '--allow-unsigned'], { DOCKER_CONFIG: cfg, NBDFORGE_REGISTRY_USERNAME: '' });
  assert.is(p.status, 0, p.stderr);
});

test('Bearer: a registry in token mode; the token fetched with the credentials is accepted, bad credentials are refused by name', async () => {
  const dir = await fs.mkdtemp(path.join(tmp, 'token-'));
  const svc = await startTokenService(dir, 'forge', 'token-pass-7');
  cleanup.push(() => svc.close());
  const treg = await startRegistry(undefined, svc);
  cleanup.push(() => treg.stop());
  const spec = `oci://${treg.host}/nbd`;
  const bad = await createTarget(spec, opts({ env: { HOME: tmp, NBDFORGE_REGISTRY_USERNAME: 'forge', NBDFORGE_REGISTRY_PASSWORD: 'nope-nope' } })).check(items).catch((e: Error) => e);
  assert.match(String(bad), new RegExp(`oci://${treg.host}/nbd: token service http://127\\.0\\.0\\.1:\\d+ refused`));
  assert.not.match(String(bad), /nope-nope/);
  const env = { HOME: tmp, NBDFORGE_REGISTRY_USERNAME: 'forge', NBDFORGE_REGISTRY_PASSWORD: 'token-pass-7' };
  const t = createTarget(spec, opts({ env }));
  await t.check(items);
  const out = await t.publish(items.slice(0, 1), () => {});
  assert.is(out[0].ref, pushed[KERNELS[0]].ref);
  assert.ok(svc.requests >= 2);
  const p = await cliAsync(['pull', `${spec}:${KERNELS[0]}`, '--store', path.join(dir, 'store'), '--allow-unsigned'], env);
  assert.is(p.status, 0, p.stderr);
  // Without a token the real registry refuses: the JWT is what it checked.
  assert.is((await fetch(`http://${treg.host}/v2/nbd/tags/list`)).status, 401);
});

test('a connection reset in the middle of an upload is retried with a fresh session', async () => {
  let dropped = 0;
  proxy.intercept = (req) => (req.method === 'PUT' && req.url!.includes('/blobs/uploads/') && dropped++ === 0 ? 'drop' : undefined);
  proxy.seen.length = 0;
  try {
    const out = await createTarget(`oci://127.0.0.1:${proxy.port}/resets`, opts()).publish(items.slice(0, 1), () => {});
    assert.is(out[0].ref, pushed[KERNELS[0]].ref);
  } finally {
    proxy.intercept = undefined;
  }
  assert.is(dropped > 1, true);
  assert.is(proxy.seen.filter((s) => s.method === 'POST').length, 7, 'six blobs, one of them started twice');
});

test('5xx answers are retried: a 503 on HEAD and on an upload PUT, then the push completes', async () => {
  const failed: string[] = [];
  proxy.intercept = (req, res) => {
    const kind = req.method === 'HEAD' ? 'HEAD' : req.method === 'PUT' && req.url!.includes('/blobs/uploads/') ? 'PUT' : '';
    if (!kind || failed.includes(kind)) return undefined;
    failed.push(kind);
    res.writeHead(503, { 'content-type': 'text/plain' }).end('try later');
    return 'answered';
  };
  try {
    const out = await createTarget(`oci://127.0.0.1:${proxy.port}/flaky`, opts()).publish(items.slice(0, 1), () => {});
    assert.is(out[0].ref, pushed[KERNELS[0]].ref);
  } finally {
    proxy.intercept = undefined;
  }
  assert.equal(failed.sort(), ['HEAD', 'PUT']);
});

test('a push killed midway (SIGKILL) completes on re-run without re-sending finished blobs', async () => {
  const spec = `oci://127.0.0.1:${proxy.port}/killed`;
  let posts = 0;
  let child: ReturnType<typeof spawn> | undefined;
  proxy.seen.length = 0;
  proxy.intercept = (req) => {
    if (req.method === 'POST' && ++posts === 2) {
      child?.kill('SIGKILL'); // after the busybox layer landed, as the second upload starts
      return 'drop';
    }
    return undefined;
  };
  const run = () => spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/docker/oci-push-child.ts'), STORE, spec, KERNELS.join(',')], { cwd: ROOT, env: { ...process.env, HOME: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
  child = run();
  const sig = await new Promise((r) => child!.on('exit', (_c, s) => r(s)));
  proxy.intercept = undefined;
  assert.is(sig, 'SIGKILL');
  const c = new RegistryClient(parseReference(`${reg.host}/killed`, { allowTag: false }), { env: {} });
  assert.ok(await hasBlob(c, busyboxDigest), 'the finished blob stayed');
  assert.equal(await listTags(c), [], 'nothing tagged');
  const firstRun = proxy.bodyBytes();
  assert.ok(firstRun >= busyboxSize);

  proxy.seen.length = 0;
  const again = run();
  let stdout = '';
  again.stdout!.on('data', (d) => (stdout += d));
  const code = await new Promise((r) => again.on('exit', r));
  assert.is(code, 0);
  const out = JSON.parse(stdout) as PublishOutcome[];
  assert.equal(out.map((o) => o.ref).sort(), KERNELS.map((k) => pushed[k].ref).sort());
  assert.not.ok(proxy.seen.some((s) => s.method === 'PUT' && s.url.includes(busyboxDigest)), 'busybox layer sent again');
  assert.ok(proxy.seen.some((s) => s.method === 'HEAD' && s.url.endsWith(`/blobs/${busyboxDigest}`) && s.status === 200));
  assert.is(proxy.bodyBytes(), firstBytes - busyboxSize, 're-run sends everything but the finished blob');
  console.log(`  killed push: ${firstRun} bytes before the kill, re-run ${proxy.bodyBytes()} bytes (a full push: ${firstBytes})`);
});

test.run();
