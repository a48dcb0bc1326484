import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import type { Manifest } from '../../src/artifacts/manifest.ts';
import { openArtifactSource } from '../../src/prepare-host/artifact-source.ts';
import { resolveArtifact } from '../../src/prepare-host/resolve-artifact.ts';
import { prepareHost } from '../../src/prepare-host/prepare-host.ts';
import { planPrepareHost } from '../../src/prepare-host/plan-prepare-host.ts';
import { hostLayout } from '../../src/prepare-host/layout.ts';
import { parseOptions, expectedParameter } from '../../src/prepare-host/options.ts';
import { buildModule } from './fixtures-elf.ts';
import { FakeHost, hostFacts } from './host-fake.ts';

const sha = (d: string | Uint8Array) => createHash('sha256').update(d).digest('hex');
const K = '6.1.0-56-amd64';
const VM = (k: string) => `${k} SMP preempt mod_unload modversions `;
let tmp = '';

async function rejects(fn: () => Promise<unknown>, want: RegExp | ((e: Error) => boolean)): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const e = err as Error;
    assert.ok(want instanceof RegExp ? want.test(e.message) : want(e), `unexpected error ${e.name}: ${e.message}`);
    return;
  }
  assert.unreachable('expected a rejection');
}
let store = '';

async function put(s: DirStore, kernelRelease: string, bytes: Uint8Array): Promise<void> {
  const src = await fs.mkdtemp(path.join(tmp, 'src-'));
  await fs.writeFile(path.join(src, 'nbd.ko'), bytes);
  await fs.writeFile(path.join(src, 'nbd.ko.debug'), 'debug');
  const m: Manifest = {
    schema: 1, key: sha(`key ${kernelRelease}`), family: 'debian12', kernelRelease, module: 'nbd', file: 'nbd.ko', debugFile: 'nbd.ko.debug',
    sha256: sha(bytes), size: bytes.length, debugSha256: sha('debug'), vermagic: VM(kernelRelease).trim(),
    checks: [{ name: 'vermagic', ok: true, detail: 'matches' }], inputs: {}, builderImage: 'sha256:' + sha('i'), compiler: 'gcc-12',
    durationMs: 1, tool: { name: 'nbdforge', version: '0.1.0' }, createdAt: new Date(0).toISOString(),
  };
  await s.put(m, { module: path.join(src, 'nbd.ko'), debug: path.join(src, 'nbd.ko.debug') });
}

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-prepare-host-'));
  store = path.join(tmp, 'store');
  const s = new DirStore(store);
  await put(s, K, buildModule({ vermagic: VM(K) }).bytes);
  // stored under 6.1.0-50 but built for 6.1.0-47: a mislabelled artifact. The store refuses such a
  // put (issue 16), so it is stored right and then edited by hand, manifest and index made to agree.
  await put(s, '6.1.0-50-amd64', buildModule({ vermagic: VM('6.1.0-50-amd64') }).bytes);
  const [e50] = await s.list({ kernelRelease: '6.1.0-50-amd64' });
  const ko47 = buildModule({ vermagic: VM('6.1.0-47-amd64') }).bytes;
  await fs.writeFile(s.artifactPath(e50), ko47);
  const mfile = s.artifactPath(e50, 'manifest.json');
  await fs.writeFile(mfile, JSON.stringify({ ...JSON.parse(await fs.readFile(mfile, 'utf8')), sha256: sha(ko47), size: ko47.length }));
  const ifile = path.join(store, 'index.json');
  const idx = JSON.parse(await fs.readFile(ifile, 'utf8'));
  for (const a of idx.artifacts) if (a.kernelRelease === '6.1.0-50-amd64') a.sha256 = sha(ko47);
  await fs.writeFile(ifile, JSON.stringify(idx));
  // stored fine, then damaged on disk
  await put(s, '6.1.0-53-amd64', buildModule({ vermagic: VM('6.1.0-53-amd64') }).bytes);
  const [e53] = await s.list({ kernelRelease: '6.1.0-53-amd64' });
  const f = s.artifactPath(e53);
  const b = await fs.readFile(f);
  b[b.length - 1] ^= 1;
  await fs.writeFile(f, b);
});

test.after(() => fs.rm(tmp, { recursive: true, force: true }));

test('artifact: the right one is picked and verified; bad ones are named clearly', async () => {
  const src = openArtifactSource(store);
  const a = await resolveArtifact(src, K);
  assert.is(a.vermagic, VM(K).trim());
  assert.is(a.sha256, sha(a.bytes));
  await rejects(() => resolveArtifact(src, '6.1.0-99-amd64'), (e: Error) =>
    e.name === 'NoArtifactError' && /store holds 6\.1\.0-50-amd64 \(debian12\), 6\.1\.0-53-amd64 \(debian12\), 6\.1\.0-56-amd64 \(debian12\)/.test(e.message));
  await rejects(() => resolveArtifact(src, '6.1.0-53-amd64'), (e: Error) => e.name === 'CorruptArtifactError' && /sha256 is [0-9a-f]{64}, the manifest says/.test(e.message));
  await rejects(() => resolveArtifact(src, '6.1.0-50-amd64'), (e: Error) => e.name === 'WrongKernelError' && /built for kernel 6\.1\.0-47-amd64/.test(e.message));
  await rejects(() => resolveArtifact(src, K, { hostVermagic: `${K} SMP mod_unload` }), (e: Error) => e.name === 'WrongKernelError' && /differs from the running kernel's/.test(e.message));
  await rejects(() => resolveArtifact(openArtifactSource(path.join(tmp, 'nowhere')), K), /not an artifact store/);
});

test('artifact: a store served over http works the same, with sha256 checked', async () => {
  const server = http.createServer(async (req, res) => {
    const file = path.join(store, decodeURIComponent(new URL(req.url!, 'http://x').pathname));
    try {
      res.end(await fs.readFile(file));
    } catch {
      res.statusCode = 404;
      res.end('no');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  // a plain store has no signed index: over http it is refused unless the user opts out loudly
  const insecure = { insecureNoSignature: true, warn: (m: string) => warned.push(m) };
  const warned: string[] = [];
  try {
    await rejects(() => resolveArtifact(openArtifactSource(base), K), /refusing the unverified index .*--fingerprint/);
    const a = await resolveArtifact(openArtifactSource(base, insecure), K);
    assert.match(warned[0], /NBDFORGE_INSECURE_NO_SIGNATURE=1: .* is NOT verified/);
    assert.is(a.sha256, sha(await fs.readFile(new DirStore(store).artifactPath(a.entry))));
    await rejects(() => resolveArtifact(openArtifactSource(base, insecure), '6.1.0-53-amd64'), (e: Error) => e.name === 'CorruptArtifactError');
    await rejects(() => resolveArtifact(openArtifactSource(base + 'sub/', insecure), K), /HTTP 404/);
  } finally {
    server.close();
  }
});

const facts = (...over: string[]) => hostFacts(K, ...over);

async function prepare(f: string, from = store, followKernels?: boolean) {
  const host = new FakeHost(f);
  const r = await prepareHost({ runner: host, mode: 'run', from, options: parseOptions('nbds_max=16 max_part=15'), followKernels });
  return { r, host };
}

test('prepare-host: bad situations end before any plan runs, each with its own message and outcome', async () => {
  const cases: Array<[string, string, RegExp]> = [
    [facts('uid=1000'), 'refused', /must run as root: running as uid 1000/],
    [facts('nbd_builtin=yes'), 'nothing-to-do', /built into kernel .*: nothing to do/],
    [facts('nbd_loaded=yes'), 'nothing-to-do', /already loaded and is not this artifact/],
    [facts('nbd_loaded=yes', `extra_sha256=${'0'.repeat(64)}`, `nbd_installed=/lib/modules/${K}/extra/nbd.ko`), 'nothing-to-do', /already loaded and is not this artifact/],
    [facts(`nbd_installed=/lib/modules/${K}/kernel/drivers/block/nbd.ko`), 'nothing-to-do', /ships with kernel .*kernel\/drivers\/block\/nbd\.ko/],
    [facts('sig_enforce=Y'), 'refused', /enforces module signatures/],
    [facts('modules_disabled=1'), 'refused', /no longer loads modules/],
    [facts('lockdown=none [integrity] confidentiality'), 'refused', /enforces module signatures .*lockdown: none \[integrity\]/],
    [facts('kernel=6.1.0-99-amd64', 'moddir=/lib/modules/6.1.0-99-amd64'), 'refused', /no nbd\.ko for kernel 6\.1\.0-99-amd64 .* store holds/],
    [facts('kernel=6.1.0-53-amd64', 'moddir=/lib/modules/6.1.0-53-amd64', `vermagic=${VM('6.1.0-53-amd64')}`), 'refused', /sha256 is .* refusing to install it/],
    [facts('kernel=6.1.0-50-amd64', 'moddir=/lib/modules/6.1.0-50-amd64'), 'refused', /built for kernel 6\.1\.0-47-amd64/],
    [facts().replace(/^moddir=.*\n/m, ''), 'refused', /no module directory/],
  ];
  for (const [f, outcome, message] of cases) {
    const { r, host } = await prepare(f);
    assert.is(r.result.outcome, outcome, f);
    assert.match(r.result.message ?? '', message);
    assert.is(host.plans.length, 0);
  }
});

test('prepare-host: the plan for a clean host, and a re-run over our own loaded module still plans (every step then probes as done)', async () => {
  const { r, host } = await prepare(facts());
  assert.is(r.result.outcome, 'changed');
  assert.equal(host.plans[0].steps.map((s) => s.id), [
    'mkdir-extra', 'stage', 'verify-sha256', 'verify-vermagic', 'install', 'depmod', 'mkdir-modprobe.d', 'persist-options',
    'mkdir-modules-load.d', 'persist-load',
    ...[0, 1, 2, 3, 4, 5, 6].map((i) => `mkdir-follow-${i}`), 'kernel-hook-config', 'kernel-hook-postinst', 'kernel-hook-postrm', 'guard-unit', 'guard-enable',
    'modprobe', 'check-device', 'check-module', 'drop-backups',
  ]);
  // the hook's configuration records where the module came from and the artifact's family
  const conf = host.plans[0].steps.find((s) => s.id === 'kernel-hook-config')!.command[5];
  assert.match(conf, new RegExp(`^NBDFORGE_FROM='${store}'$`, 'm'));
  assert.match(conf, /^NBDFORGE_FAMILY='debian12'$/m);
  assert.match(conf, /^NBDFORGE_OPTIONS='nbds_max=16 max_part=15'$/m);
  const drop = host.plans[0].steps.find((s) => s.id === 'drop-backups')!.command;
  assert.ok(drop.includes('/etc/kernel/postinst.d/nbdforge-nbd.nbdforge-prev'));
  const off = await prepare(facts(), store, false);
  assert.not.ok(off.host.plans[0].steps.some((s) => /follow|hook|guard/.test(s.id)), '--no-follow-kernels leaves the hook out');
  const again = await prepare(facts('nbd_loaded=yes', `extra_sha256=${r.artifact!.sha256}`, `nbd_installed=/lib/modules/${K}/extra/nbd.ko`));
  assert.is(again.host.plans.length, 1);
});

test('plan: every changing step is probed; undo everywhere it matters; checks are read-only', () => {
  const plan = planPrepareHost({ layout: hostLayout(K), artifact: { bytes: new Uint8Array([1]), sha256: 'a'.repeat(64), vermagic: VM(K).trim() }, options: parseOptions('nbds_max=4') });
  for (const s of plan.steps) {
    if (s.readOnly) assert.not.ok(s.undo, s.id);
    else assert.ok(s.probe, `${s.id} has no probe: a second run would redo it`);
  }
  const noUndo = plan.steps.filter((s) => !s.readOnly && !s.undo).map((s) => s.id);
  assert.equal(noUndo, ['depmod', 'drop-backups'], 'depmod is re-run by the install undo; drop-backups is the last step');
  assert.equal(plan.preconditions.map((p) => p.id), ['root', 'kernel', 'module-dir', 'not-builtin', 'not-loaded-elsewhere', 'not-shipped', 'modules-enabled', 'signatures', 'tools']);
  assert.is(plan.lock, '/run/nbdforge-prepare-host.lock');
  assert.ok(!hostLayout(K).staged.startsWith(hostLayout(K).moduleDir + '/'), 'the staged module is outside the tree depmod scans');
});

test('options: parsing and the values the kernel shows back', () => {
  assert.equal(parseOptions(' nbds_max=16   max_part=15 '), [['nbds_max', '16'], ['max_part', '15']]);
  assert.equal(parseOptions(''), []);
  assert.throws(() => parseOptions('nbds_max'), /expected name=value/);
  assert.throws(() => parseOptions('a=1;reboot'), /bad module option/);
  assert.throws(() => parseOptions('a=1 a=2'), /twice/);
  assert.is(expectedParameter('max_part', '15'), '15');
  assert.is(expectedParameter('max_part', '16'), '31');
  assert.is(expectedParameter('max_part', '1'), '1');
  assert.is(expectedParameter('nbds_max', '16'), '16');
});

test('plan: every sh -c program of the real plan reaches sh intact through the local runner and parses in every shell', async () => {
  const { LocalRunner } = await import('../../src/host/runners/local.ts');
  const { shells } = await import('./host-fixtures.ts');
  const local = new LocalRunner();
  const { hookLayout } = await import('../../src/prepare-host/kernel-hook/layout.ts');
  const plan = planPrepareHost({
    layout: hostLayout(K), artifact: { bytes: new Uint8Array([1]), sha256: 'a'.repeat(64), vermagic: VM(K).trim() }, options: parseOptions('nbds_max=16 max_part=15'),
    follow: { layout: hookLayout(), config: { from: 'https://example.invalid/nbd', fingerprint: 'A'.repeat(40), family: 'el7', options: [], preparedFor: K } },
  });
  const argvs = [...plan.preconditions.map((p) => p.check), ...plan.steps.flatMap((s) => [s.command, s.probe, s.undo])].filter((a): a is string[] => !!a);
  const programs = argvs.filter((a) => a[0] === 'sh' && a[1] === '-c').map((a) => a[2]);
  assert.ok(programs.length > 15);
  for (const prog of programs) {
    assert.is((await local.exec(['printf', '%s', prog])).stdout, prog);
    for (const sh of shells()) {
      const r = await local.exec([...sh, '-n', '-c', prog], { nothrow: true });
      assert.is(r.exitCode, 0, `${sh.join(' ')} cannot parse:\n${prog}\n${r.stderr}`);
    }
  }
});

test.run();
