/**
 * `--to dir:PATH` against its real clients on this machine: the published tree served over http on
 * 127.0.0.1, install.sh fetched with curl or wget and piped into dash, bash, bash 4.2 (CentOS 7's
 * /bin/sh, built from source) and busybox sh, gpgv checking the signature; and prepare-host's http
 * source reading the same tree. Installing needs a real kernel: that is the vm test (publish-dir).
 * Here install.sh runs with --download-only, which stops after every check.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { selectItems } from '../../src/publish/select.ts';
import { createTarget as createDirTarget } from '../../src/publish/dir/index.ts';
import { resolvePaths } from '../../src/paths.ts';
import { openArtifactSource } from '../../src/prepare-host/artifact-source.ts';
import { resolveArtifact } from '../../src/prepare-host/resolve-artifact.ts';
import { putModule, gpgHome, cli, serve, sha, type GpgHome } from './publish-fixtures.ts';
import { bash42 } from './publish-bash42.ts';
import { proveStoreFixture } from '../fixtures/proof.ts';

const K56 = '6.1.0-56-amd64';
const K47 = '6.1.0-47-amd64';
let tmp = '';
let store = '';
let site = '';
let mislabelled = '';
let gpg: GpgHome;
let other: GpgHome;
let server: { url: string; close: () => Promise<void> };
let runs = 0;
/** publish --json's output for the good tree: what it says went out proven. */
let publishedJson: { targets: Array<{ published: Array<{ kernelRelease: string; proven: boolean; proof?: string }> }> };

/** Run without blocking this process: the http server the child talks to lives here too. */
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (b) => (out += b));
    c.stderr.on('data', (b) => (out += b));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code: code ?? 128, out }));
    c.stdin.end(opts.input ?? '');
  });
}

/** `FETCH URL/install.sh | SHELL -s -- ARGS`, as a user types it. */
function pipeInstall(fetch: 'curl' | 'wget' | 'busybox wget', shell: string[], dir: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const url = `${server.url}/${dir}`;
  const get = fetch === 'curl' ? 'curl -fsSL "$U/install.sh"' : `${fetch} -qO- "$U/install.sh"`;
  // each run its own serial state (install.sh keeps the highest serial it accepted per source)
  return run('/bin/sh', ['-c', `${get} | "$@"`, 'sh', ...shell, '-s', '--', '--from', url, ...args], { env: { ...process.env, U: url, NBDFORGE_STATE_DIR: path.join(tmp, `state-${++runs}`), ...env } });
}

async function publish(storeDir: string, out: string, extra: string[] = [], env = gpg.env): Promise<string> {
  const r = await cli(['publish', '--store', storeDir, '--to', `dir:${out}`, ...extra], env);
  assert.is(r.code, 0, r.stderr + r.stdout);
  return r.stdout;
}

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-publish-dir-'));
  store = path.join(tmp, 'store');
  site = path.join(tmp, 'site');
  await putModule(store, K56);
  await putModule(store, K47);
  // 56 carries a (fixture) proof record, 47 none: both must travel as what they are
  await proveStoreFixture(store, (k) => k === K56);
  [gpg, other] = await Promise.all([gpgHome(), gpgHome('someone else <other@nbdforge.invalid>')]);
  publishedJson = JSON.parse(await publish(store, path.join(site, 'good'), ['--gpg-key', gpg.fingerprint, '--json']));
  await publish(store, path.join(site, 'unsigned'), ['--unsigned']);
  // a module stored for 56 that is really 47's: the index (signed) says so and the host must refuse.
  // The store refuses such a put and publish refuses to send it (issue 16), so the store is edited
  // by hand and the tree written by the dir target itself, as a publisher without those checks would.
  mislabelled = path.join(tmp, 'mislabelled');
  await putModule(mislabelled, K56);
  const ms = new DirStore(mislabelled);
  const [e56] = await ms.list();
  const [e47] = await new DirStore(store).list({ kernelRelease: K47 });
  const ko47 = await fs.readFile(new DirStore(store).artifactPath(e47));
  await fs.writeFile(ms.artifactPath(e56), ko47);
  const mfile = ms.artifactPath(e56, 'manifest.json');
  await fs.writeFile(mfile, JSON.stringify({ ...JSON.parse(await fs.readFile(mfile, 'utf8')), sha256: sha(ko47), size: ko47.length, vermagic: e47.vermagic }));
  const ifile = path.join(mislabelled, 'index.json');
  await fs.writeFile(ifile, JSON.stringify({ schema: 1, artifacts: [{ ...e56, sha256: sha(ko47), vermagic: e47.vermagic }] }));
  const items = await selectItems(ms, {});
  const dirTarget = createDirTarget(path.join(site, 'mislabelled'), { family: 'debian12', gpgKey: gpg.fingerprint, env: gpg.env, paths: resolvePaths(gpg.env, { store: mislabelled }) });
  await dirTarget.check(items);
  await dirTarget.publish(items, () => {});
  // tampered copies of the good tree
  for (const d of ['bad-index', 'bad-module', 'bad-manifest', 'other-key', 'bad-proof', 'bad-copy', 'old-layout']) await fs.cp(path.join(site, 'good'), path.join(site, d), { recursive: true });
  const idxFile = (d: string) => path.join(site, d, 'index.json');
  const idx = JSON.parse(await fs.readFile(idxFile('good'), 'utf8'));
  const a56 = idx.artifacts.find((a: { kernelRelease: string }) => a.kernelRelease === K56);
  await fs.writeFile(idxFile('bad-index'), (await fs.readFile(idxFile('good'), 'utf8')).replace(`"size":${a56.size}`, `"size":${a56.size + 1}`));
  const mod = await fs.readFile(path.join(site, 'good', a56.path));
  mod[mod.length >> 1] ^= 0x01;
  // both copies of the module (the artifact directory's and kernels/<release>/) tampered with: refused;
  // only the kernels/ copy: install.sh falls back to the index's path; no kernels/ at all (a tree
  // published before it existed): the same fallback
  for (const f of [a56.path, `kernels/${K56}/nbd.ko`]) await fs.writeFile(path.join(site, 'bad-module', f), mod);
  await fs.writeFile(path.join(site, 'bad-copy', 'kernels', K56, 'nbd.ko'), mod);
  await fs.rm(path.join(site, 'old-layout', 'kernels'), { recursive: true });
  await fs.writeFile(path.join(site, 'bad-manifest', a56.dir, 'manifest.json'), (await fs.readFile(path.join(site, 'good', a56.dir, 'manifest.json'), 'utf8')).replace('"ok": true', '"ok":  true'));
  for (const f of [path.join(a56.dir, 'proof.json'), path.join('kernels', K56, 'proof.json')]) {
    const proofFile = path.join(site, 'bad-proof', f);
    await fs.writeFile(proofFile, (await fs.readFile(proofFile, 'utf8')).replace('2026-12-01', '2026-12-02'));
  }
  execFileSync('gpg', ['--batch', '--yes', '--local-user', other.fingerprint, '--output', path.join(site, 'other-key', 'index.json.sig'), '--detach-sign', idxFile('other-key')], { env: other.env, stdio: 'ignore' });
  server = await serve(site);
});

test.after(async () => {
  await server?.close();
  for (const d of [tmp, gpg?.home, other?.home]) if (d) await fs.rm(d, { recursive: true, force: true });
});

test('layout: index.json lists every kernel (path, sha256, size, vermagic), SHA256SUMS checks, the signature verifies with gpgv', async () => {
  const good = path.join(site, 'good');
  const idx = JSON.parse(await fs.readFile(path.join(good, 'index.json'), 'utf8'));
  assert.equal(idx.artifacts.map((a: { kernelRelease: string }) => a.kernelRelease), [K47, K56]);
  for (const a of idx.artifacts) {
    const [e] = await new DirStore(store).list({ kernelRelease: a.kernelRelease });
    const bytes = await fs.readFile(path.join(good, a.path));
    assert.ok(Buffer.compare(bytes, await fs.readFile(new DirStore(store).artifactPath(e))) === 0, 'byte-identical to the store');
    assert.is(a.sha256, sha(bytes));
    assert.is(a.size, bytes.length);
    assert.is(a.vermagic, `${a.kernelRelease} SMP preempt mod_unload modversions`);
  }
  const sums = spawnSync('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: good, encoding: 'utf8' });
  assert.is(sums.status, 0, sums.stdout + sums.stderr);
  assert.is(sums.stdout.split('\n').filter((l) => l.endsWith(': OK')).length, 2 * 3 + 1 + 3 + 2 * 2 + 1, 'three files per kernel, the proof of 56, three top files, the kernels/<release>/ copies');
  // kernels/<release>/: byte copies of each artifact's module, plan and proof (none for unproven 47)
  for (const a of idx.artifacts) {
    const copy = path.join(good, 'kernels', a.kernelRelease);
    assert.equal((await fs.readdir(copy)).sort(), a.proof ? ['nbd.ko', 'prepare-host.sh', 'proof.json'] : ['nbd.ko', 'prepare-host.sh'], a.kernelRelease);
    for (const [n, from] of [['nbd.ko', a.path], ['prepare-host.sh', a.plan], ...(a.proof ? [['proof.json', a.proof]] : [])])
      assert.ok(Buffer.compare(await fs.readFile(path.join(copy, n)), await fs.readFile(path.join(good, from))) === 0, `${a.kernelRelease}/${n}`);
  }
  const v = spawnSync('gpgv', ['--keyring', path.join(good, 'signing-key.gpg'), 'index.json.sig', 'index.json'], { cwd: good, encoding: 'utf8' });
  assert.is(v.status, 0, v.stderr);
  assert.match(await fs.readFile(path.join(good, 'install.sh'), 'utf8'), new RegExp(`^NI_FPR='${gpg.fingerprint}'$`, 'm'));
  assert.not.ok(await fs.access(path.join(site, 'unsigned', 'index.json.sig')).then(() => true, () => false));
});

test('the proof travels: proof.json beside the proven module, named (path, sha256, day) in the signed index; publish says which went out proven', async () => {
  const good = path.join(site, 'good');
  const idx = JSON.parse(await fs.readFile(path.join(good, 'index.json'), 'utf8'));
  const [a47, a56] = idx.artifacts;
  const st = new DirStore(store);
  const [e56] = await st.list({ kernelRelease: K56 });
  const stored = await fs.readFile(st.artifactPath(e56, 'proof.json'));
  assert.is(a56.proof, `${a56.dir}/proof.json`);
  assert.is(a56.proofSha256, sha(stored));
  assert.is(a56.proofDate, '2026-12-01');
  assert.ok(Buffer.compare(await fs.readFile(path.join(good, a56.proof)), stored) === 0, 'proof.json byte-identical to the store');
  assert.is(JSON.parse(await fs.readFile(path.join(good, a56.dir, 'manifest.json'), 'utf8')).proof.sha256, sha(stored));
  assert.is(a47.proof, undefined);
  assert.not.ok(await fs.access(path.join(good, a47.dir, 'proof.json')).then(() => true, () => false));
  const out = Object.fromEntries(publishedJson.targets[0].published.map((p) => [p.kernelRelease, p]));
  assert.is(out[K56].proven, true);
  assert.match(out[K56].proof!, /^proven in 6\.1\.0-56-amd64 on 2026-12-01 key [0-9a-f]{12}$/);
  assert.is(out[K47].proven, false);
});

test('install.sh piped from curl or wget into dash, bash, bash 4.2 and busybox sh verifies and fetches the module for the kernel', async () => {
  const b42 = await bash42();
  const runs: Array<['curl' | 'wget' | 'busybox wget', string[], NodeJS.ProcessEnv]> = [
    ['curl', ['dash'], {}],
    ['wget', ['bash'], { NBDFORGE_DOWNLOADER: 'wget' }],
    ['curl', [b42], {}],
    ['busybox wget', ['busybox', 'sh'], { NBDFORGE_DOWNLOADER: 'wget' }],
  ];
  const store56 = await fs.readFile(new DirStore(store).artifactPath((await new DirStore(store).list({ kernelRelease: K56 }))[0]));
  for (const [fetch, shell, env] of runs) {
    const dl = path.join(tmp, `dl-${path.basename(shell[0])}-${shell.length}`);
    const r = await pipeInstall(fetch, shell, 'good', ['--download-only', dl, '--kernel', K56], env);
    const what = `${fetch} | ${shell.join(' ')}`;
    assert.is(r.code, 0, `${what}:\n${r.out}`);
    assert.match(r.out, new RegExp(`signature verified \\(key ${gpg.fingerprint}\\)`), what);
    assert.match(r.out, /sha256 and vermagic "6\.1\.0-56-amd64 SMP preempt mod_unload modversions" match the index/, what);
    assert.match(r.out, /proven in 6\.1\.0-56-amd64 on 2026-12-01 \(.*proof\.json matches its sha256 in the index\)/, what);
    assert.ok(Buffer.compare(await fs.readFile(path.join(dl, 'proof.json')), await fs.readFile(new DirStore(store).artifactPath((await new DirStore(store).list({ kernelRelease: K56 }))[0], 'proof.json'))) === 0, `${what}: proof saved`);
    assert.ok(Buffer.compare(await fs.readFile(path.join(dl, 'nbd.ko')), store56) === 0, `${what}: module byte-identical`);
    const plan = await fs.readFile(path.join(dl, 'prepare-host.sh'), 'utf8');
    assert.match(plan, /^# nbdforge plan "prepare-host": install nbd\.ko for 6\.1\.0-56-amd64 and load it$/m, what);
    // the plan takes the module from install.sh's download, never from anywhere it was not checked
    const alone = spawnSync('dash', [path.join(dl, 'prepare-host.sh')], { encoding: 'utf8', env: { ...process.env, NBDFORGE_MODULE_FILE: '' } });
    assert.is(alone.status, 3, alone.stderr);
    assert.match(alone.stdout, /^@nbdforge pre module-file refuse$/m);
  }
});

test('install.sh refuses, naming why: a kernel it lacks (with the list), tampered index, module, a foreign signature, an unsigned tree, a wrong sha256 pin, a mislabelled module', async () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['good', ['--kernel', '6.1.0-55-amd64'], /refused: no nbd\.ko for kernel 6\.1\.0-55-amd64 at .*; it has: 6\.1\.0-47-amd64 6\.1\.0-56-amd64/],
    ['bad-index', ['--kernel', K56], /refused: the signature of .*index\.json does not verify/],
    ['bad-module', ['--kernel', K56], /refused: .*nbd\.ko: sha256 [0-9a-f]{64}, the index says/],
    ['other-key', ['--kernel', K56], /refused: the signature of .*index\.json does not verify with key/],
    ['unsigned', ['--kernel', K56], /refused: this directory was published without a signature/],
    ['unsigned', ['--kernel', K56, '--index-sha256', 'f'.repeat(64)], /refused: index\.json has sha256 [0-9a-f]{64}, not the pinned f{64}/],
    ['mislabelled', ['--kernel', K56], /refused: .*nbd\.ko is built for kernel 6\.1\.0-47-amd64, not 6\.1\.0-56-amd64/],
    ['bad-proof', ['--kernel', K56], /refused: .*proof\.json: sha256 [0-9a-f]{64}, the index says [0-9a-f]{64} \(not the proof that was published\)/],
    ['good', ['--kernel', K47, '--require-proof'], /refused: .*nbd\.ko is not proven in its own kernel \(the index names no proof for 6\.1\.0-47-amd64\) and --require-proof is set/],
  ];
  for (const [dir, args, want] of cases) {
    const dl = path.join(tmp, `refused-${dir}`);
    const r = await pipeInstall('curl', ['dash'], dir, ['--download-only', dl, ...args]);
    assert.is(r.code, 3, `${dir} ${args.join(' ')}:\n${r.out}`);
    assert.match(r.out, want, `${dir}: ${r.out}`);
    assert.not.ok(await fs.access(dl).then(() => true, () => false), `${dir}: nothing saved`);
  }
  // the two ways past an unsigned index: a sha256 pin of it, or the loud opt-out
  const pin = sha(await fs.readFile(path.join(site, 'unsigned', 'index.json')));
  const p = await pipeInstall('curl', ['dash'], 'unsigned', ['--download-only', path.join(tmp, 'pinned'), '--kernel', K47, '--index-sha256', pin]);
  assert.is(p.code, 0, p.out);
  assert.match(p.out, /index\.json matches the pinned sha256/);
  assert.match(p.out, /nbd\.ko: not proven in its own kernel \(no proof published for 6\.1\.0-47-amd64\)/);
  const o = await pipeInstall('curl', ['dash'], 'unsigned', ['--download-only', path.join(tmp, 'optout'), '--kernel', K47], { NBDFORGE_INSECURE_NO_SIGNATURE: '1' });
  assert.is(o.code, 0, o.out);
  assert.match(o.out, /WARNING: NBDFORGE_INSECURE_NO_SIGNATURE=1: index\.json is NOT verified/);
  // usage errors and a download cut short (main never runs)
  assert.is((await pipeInstall('curl', ['dash'], 'good', ['--bogus'])).code, 2);
  assert.is((await pipeInstall('curl', ['dash'], 'good', ['--kernel', K56])).code, 2, '--kernel needs --download-only');
  const full = await fs.readFile(path.join(site, 'good', 'install.sh'), 'utf8');
  const cut = await run('dash', ['-s', '--', '--from', `${server.url}/good`, '--download-only', path.join(tmp, 'cut'), '--kernel', K56], { input: full.slice(0, full.length - 20) });
  assert.not.ok(await fs.access(path.join(tmp, 'cut')).then(() => true, () => false), `a truncated install.sh did something: ${cut.out}`);
});

test('kernels/<release>/ copy tampered with, or a tree without kernels/ (published before it): install.sh (dash, bash 4.2, busybox sh) says so in one line and installs the right module by the index\'s paths', async () => {
  const b42 = await bash42();
  const store56 = await fs.readFile(new DirStore(store).artifactPath((await new DirStore(store).list({ kernelRelease: K56 }))[0]));
  const cases: Array<[string, string[], RegExp]> = [
    ['bad-copy', ['dash'], new RegExp(`kernels/${K56.replaceAll('.', '\\.')}/nbd\\.ko: sha256 [0-9a-f]{64}, the index says [0-9a-f]{64}; downloading by the index's paths instead`)],
    ['bad-copy', [b42], /nbd\.ko: sha256 [0-9a-f]{64}, the index says [0-9a-f]{64}; downloading by the index's paths instead/],
    ['old-layout', ['busybox', 'sh'], new RegExp(`kernels/${K56.replaceAll('.', '\\.')}/nbd\\.ko: not downloaded; downloading by the index's paths instead`)],
    ['old-layout', ['dash'], /nbd\.ko: not downloaded; downloading by the index's paths instead/],
  ];
  for (const [dir, shell, said] of cases) {
    const what = `${dir} | ${shell.join(' ')}`;
    const dl = path.join(tmp, `fallback-${dir}-${path.basename(shell[0])}`);
    const r = await pipeInstall('curl', shell, dir, ['--download-only', dl, '--kernel', K56]);
    assert.is(r.code, 0, `${what}:\n${r.out}`);
    assert.match(r.out, said, what);
    assert.is(r.out.split('\n').filter((l) => /downloading by the index's paths/.test(l)).length, 1, `${what}: one line`);
    assert.match(r.out, /debian12\/6\.1\.0-56-amd64\/nbd-[0-9a-f]{12}\/nbd\.ko: \d+ bytes, sha256 and vermagic ".*" match the index/, what);
    assert.match(r.out, /proven in 6\.1\.0-56-amd64 on 2026-12-01/, what);
    assert.ok(Buffer.compare(await fs.readFile(path.join(dl, 'nbd.ko')), store56) === 0, `${what}: the store's module, not the tampered copy`);
  }
});

test('prepare-host --from URL reads the same tree and checks the same signature', async () => {
  const url = `${server.url}/good/`;
  const stateDir = path.join(tmp, 'prepare-host-state');
  const env = { ...process.env, NBDFORGE_STATE_DIR: stateDir };
  const a = await resolveArtifact(openArtifactSource(url, { fingerprint: gpg.fingerprint, stateDir }), K56);
  assert.is(a.vermagic, `${K56} SMP preempt mod_unload modversions`);
  // the proof came over http too, checked against the manifest and the signed index
  assert.is(a.proof?.module.sha256, a.sha256);
  assert.is(a.proof?.kernelRelease, K56);
  assert.is((await resolveArtifact(openArtifactSource(url, { fingerprint: gpg.fingerprint, stateDir }), K47)).proof, undefined);
  const pin = sha(await fs.readFile(path.join(site, 'good', 'index.json')));
  assert.is((await resolveArtifact(openArtifactSource(url, { indexSha256: pin, stateDir }), K47)).entry.kernelRelease, K47);
  const refused = async (from: string, trust: object, want: RegExp) => {
    try {
      await resolveArtifact(openArtifactSource(from, { ...trust, stateDir }), K56);
    } catch (err) {
      assert.match((err as Error).message, want);
      return;
    }
    assert.unreachable(`${from} was accepted`);
  };
  await refused(url, {}, /refusing the unverified index/);
  await refused(url, { fingerprint: other.fingerprint }, /holds key .*, expected exactly/);
  await refused(`${server.url}/bad-index/`, { fingerprint: gpg.fingerprint }, /signature refused \(BADSIG/);
  await refused(`${server.url}/other-key/`, { fingerprint: gpg.fingerprint }, /signature refused/);
  await refused(`${server.url}/bad-manifest/`, { fingerprint: gpg.fingerprint }, /manifest\.json: sha256 [0-9a-f]{64}, the index says/);
  await refused(`${server.url}/bad-module/`, { fingerprint: gpg.fingerprint }, /sha256 is [0-9a-f]{64}, the manifest says/);
  await refused(`${server.url}/unsigned/`, { fingerprint: gpg.fingerprint }, /is not signed/);
  await refused(`${server.url}/bad-proof/`, { fingerprint: gpg.fingerprint }, /its proof is damaged or not its own: .*proof\.json: sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64} \(not the proof that was published\)/);
  // and the CLI: the plan for a host with kernel 56, from the published tree
  const r = await cli(['prepare-host', '--from', url, '--fingerprint', gpg.fingerprint, '--kernel', K56, '--emit-script', '-'], env);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^# nbdforge plan "prepare-host": install nbd\.ko for 6\.1\.0-56-amd64 and load it$/m);
  assert.match(r.stderr, /^proof: proven in 6\.1\.0-56-amd64 on 2026-12-01 /m);
  const unproven = await cli(['prepare-host', '--from', url, '--fingerprint', gpg.fingerprint, '--kernel', K47, '--emit-script', '-', '--require-proof'], env);
  assert.is(unproven.code, 3, unproven.stderr);
  assert.match(unproven.stderr, /not proven in its own kernel .* and --require-proof is set/);
  const n = await cli(['prepare-host', '--from', url, '--kernel', K56, '--emit-script', '-'], env);
  assert.is(n.code, 3);
  assert.match(n.stderr, /refusing the unverified index/);
});

test('issue 16 (M3): publish refuses (exit 3) a stored module whose vermagic names another kernel than the one it is filed under; nothing written', async () => {
  const out = path.join(tmp, 'refused-mislabelled');
  const r = await cli(['publish', '--store', mislabelled, '--to', `dir:${out}`, '--gpg-key', gpg.fingerprint], gpg.env);
  assert.is(r.code, 3, r.stderr + r.stdout);
  assert.match(r.stderr, /its vermagic "6\.1\.0-47-amd64 SMP preempt mod_unload modversions" is for kernel 6\.1\.0-47-amd64, but it is filed under 6\.1\.0-56-amd64/);
  assert.equal(await fs.readdir(out).catch(() => []), []);
});

test.run();
