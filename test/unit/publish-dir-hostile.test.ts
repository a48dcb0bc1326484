/**
 * `--to dir:PATH` when someone else can write into the target between two runs (issue 16), or the
 * file system fills up mid-run (issue 23 item 4): the probe's own shapes. A planted index entry,
 * symlinks at the old staging names, a symlinked subdirectory and a `dir: "link/victim"` entry are
 * refused (exit 3, named) or moved aside with --prune-foreign, never signed, never followed; a
 * replayed older signed tree and an expired one are refused by install.sh (dash and bash 4.2) and by
 * prepare-host --from URL; a publish that hits ENOSPC leaves the tree as the last good run left it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { openArtifactSource } from '../../src/prepare-host/artifact-source.ts';
import { resolveArtifact } from '../../src/prepare-host/resolve-artifact.ts';
import { serialFile } from '../../src/prepare-host/serial-state.ts';
import { putModule, gpgHome, cli, serve, type GpgHome } from './publish-fixtures.ts';
import { bash42 } from './publish-bash42.ts';

const K56 = '6.1.0-56-amd64';
const K47 = '6.1.0-47-amd64';
let tmp = '';
let store = '';
let site = '';
let outside = '';
let gpg: GpgHome;
let server: { url: string; close: () => Promise<void> };
const exists = (p: string) => fs.lstat(p).then(() => true, () => false);

/** A shell run in its own process group, killed whole after 90 s (an installer that never ends fails the test). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const timer = setTimeout(() => {
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 90_000);
    let out = '';
    c.stdout.on('data', (b) => (out += b));
    c.stderr.on('data', (b) => (out += b));
    c.on('error', reject);
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, out: signal ? `${out}\n(killed by ${signal} after ${Math.round(performance.now() - t0)} ms)` : out, ms: performance.now() - t0 });
    });
  });
}

/** `curl URL/install.sh | SHELL -s -- --from URL ARGS`, with its own serial state. */
function install(shell: string, url: string, state: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return run('/bin/sh', ['-c', 'curl -fsSL "$U/install.sh" | "$@"', 'sh', shell, '-s', '--', '--from', url, ...args], { U: url, NBDFORGE_STATE_DIR: state, ...env });
}

const pub = (to: string, extra: string[] = []) => cli(['publish', '--store', store, '--to', `dir:${to}`, '--gpg-key', gpg.fingerprint, ...extra], gpg.env);

/** Every path under dir with its kind and content (files) or target (links): the tree as a reader sees it. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string) => {
    for (const n of await fs.readdir(path.join(dir, rel))) {
      const r = path.join(rel, n);
      const st = await fs.lstat(path.join(dir, r));
      if (st.isSymbolicLink()) out[r] = `link ${await fs.readlink(path.join(dir, r))}`;
      else if (st.isDirectory()) {
        out[r] = 'dir';
        await walk(r);
      } else out[r] = (await fs.readFile(path.join(dir, r))).toString('base64');
    }
  };
  await walk('');
  return out;
}

/** Sign `file` as the publisher would: a genuinely signed (old, expired, ...) index. */
const resign = (dir: string) =>
  execFileSync('gpg', ['--batch', '--yes', '--local-user', gpg.fingerprint, '--output', path.join(dir, 'index.json.sig'), '--detach-sign', path.join(dir, 'index.json')], { env: gpg.env, stdio: 'ignore' });

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-publish-hostile-'));
  store = path.join(tmp, 'store');
  site = path.join(tmp, 'site');
  outside = path.join(tmp, 'outside');
  await fs.mkdir(site);
  await fs.mkdir(outside);
  await putModule(store, K56);
  await putModule(store, K47);
  gpg = await gpgHome();
  server = await serve(site);
});

test.after(async () => {
  await server?.close();
  for (const d of [tmp, gpg?.home]) if (d) await fs.rm(d, { recursive: true, force: true });
});

test('H1: an entry planted in index.json is refused (exit 3, named), never signed; --prune-foreign drops it and moves its files aside', async () => {
  const t = path.join(site, 'h1');
  assert.is((await pub(t, ['--kernels', K47])).code, 0);
  const idxFile = path.join(t, 'index.json');
  const text = await fs.readFile(idxFile, 'utf8');
  const line = text.split('\n').find((l) => l.includes(K47))!;
  const planted = line.replaceAll(K47, '6.1.0-99-amd64').replace(/"key":"[0-9a-f]{64}"/, `"key":"${'e'.repeat(64)}"`).replace(/nbd-[0-9a-f]{12}/g, 'nbd-eeeeeeeeeeee');
  await fs.writeFile(idxFile, text.replace(line, `${planted},\n${line}`));
  const pdir = path.join(t, 'debian12', '6.1.0-99-amd64', 'nbd-eeeeeeeeeeee');
  await fs.mkdir(pdir, { recursive: true });
  await fs.writeFile(path.join(pdir, 'prepare-host.sh'), 'echo owned\n');
  const before = await snapshot(t);
  const r = await pub(t);
  assert.is(r.code, 3, r.stderr + r.stdout);
  assert.match(r.stderr, /nbdforge did not write/);
  assert.match(r.stderr, /index\.json entry 6\.1\.0-99-amd64 \(key eeeeeeeeeeee/);
  assert.match(r.stderr, /debian12\/6\.1\.0-99-amd64\//);
  assert.match(r.stderr, /--prune-foreign/);
  assert.equal(await snapshot(t), before, 'nothing written, nothing signed');

  const p = await pub(t, ['--prune-foreign']);
  assert.is(p.code, 0, p.stderr + p.stdout);
  assert.match(p.stdout, /dropped the foreign index\.json entry 6\.1\.0-99-amd64/);
  const idx = JSON.parse(await fs.readFile(idxFile, 'utf8'));
  assert.equal(idx.artifacts.map((a: { kernelRelease: string }) => a.kernelRelease), [K47, K56]);
  assert.not.match(await fs.readFile(idxFile, 'utf8'), /6\.1\.0-99/);
  assert.is(spawnSync('gpgv', ['--keyring', path.join(t, 'signing-key.gpg'), 'index.json.sig', 'index.json'], { cwd: t }).status, 0);
  const aside = await fs.readdir(path.join(t, '.nbdforge-foreign'));
  assert.is(aside.length, 1);
  assert.ok(await exists(path.join(t, '.nbdforge-foreign', aside[0], 'debian12', '6.1.0-99-amd64', 'prepare-host.sh')) || await exists(path.join(t, '.nbdforge-foreign', aside[0], 'debian12', '6.1.0-99-amd64', 'nbd-eeeeeeeeeeee', 'prepare-host.sh')));
  assert.not.ok(await exists(path.join(t, 'debian12', '6.1.0-99-amd64')));
});

test('H2: a planted dir "link/victim" with link -> outside: refused, nothing outside removed; pruned, the link itself moves, outside intact', async () => {
  const t = path.join(site, 'h2');
  assert.is((await pub(t, ['--kernels', K47])).code, 0);
  const victim = path.join(outside, 'h2', 'victim');
  await fs.mkdir(victim, { recursive: true });
  await fs.writeFile(path.join(victim, 'precious'), 'keep me');
  await fs.symlink(path.join(outside, 'h2'), path.join(t, 'link'));
  const idxFile = path.join(t, 'index.json');
  const text = await fs.readFile(idxFile, 'utf8');
  const line = text.split('\n').find((l) => l.includes(K47))!;
  const planted = line.replaceAll(K47, K56).replace(/"key":"[0-9a-f]{64}"/, `"key":"${'d'.repeat(64)}"`).replace(/"dir":"[^"]*"/, '"dir":"link/victim"').replace(/"path":"[^"]*"/, '"path":"link/victim/nbd.ko"').replace(/"plan":"[^"]*"/, '"plan":"link/victim/prepare-host.sh"');
  await fs.writeFile(idxFile, text.replace(line, `${line},\n${planted}`));
  const r = await pub(t);
  assert.is(r.code, 3, r.stderr + r.stdout);
  assert.match(r.stderr, /link \(a symlink to .*outside\/h2\)/);
  assert.match(r.stderr, /index\.json entry 6\.1\.0-56-amd64 \(key dddddddddddd, dir link\/victim\)/);
  assert.is(await fs.readFile(path.join(victim, 'precious'), 'utf8'), 'keep me');
  const p = await pub(t, ['--prune-foreign']);
  assert.is(p.code, 0, p.stderr + p.stdout);
  assert.is(await fs.readFile(path.join(victim, 'precious'), 'utf8'), 'keep me', 'nothing outside the target touched');
  assert.not.ok(await exists(path.join(t, 'link')));
  const [stamp] = await fs.readdir(path.join(t, '.nbdforge-foreign'));
  assert.ok((await fs.lstat(path.join(t, '.nbdforge-foreign', stamp, 'link'))).isSymbolicLink(), 'the link was moved, not followed');
  assert.not.match(await fs.readFile(idxFile, 'utf8'), /link\/victim/);
});

test('H3: symlinks at the staging names (.index.json.new, .index.json.sig.new): refused; pruned, the files they point to are untouched and index.json is a regular file', async () => {
  const t = path.join(site, 'h3');
  assert.is((await pub(t, ['--kernels', K47])).code, 0);
  const a = path.join(outside, 'h3-a');
  const b = path.join(outside, 'h3-b');
  await fs.writeFile(a, 'not yours a');
  await fs.writeFile(b, 'not yours b');
  await fs.symlink(a, path.join(t, '.index.json.new'));
  await fs.symlink(b, path.join(t, '.index.json.sig.new'));
  const r = await pub(t);
  assert.is(r.code, 3, r.stderr + r.stdout);
  assert.match(r.stderr, /\.index\.json\.new \(a symlink to .*h3-a\)/);
  assert.match(r.stderr, /\.index\.json\.sig\.new \(a symlink to .*h3-b\)/);
  const p = await pub(t, ['--prune-foreign']);
  assert.is(p.code, 0, p.stderr + p.stdout);
  assert.is(await fs.readFile(a, 'utf8'), 'not yours a');
  assert.is(await fs.readFile(b, 'utf8'), 'not yours b');
  for (const f of ['index.json', 'index.json.sig', 'install.sh', 'SHA256SUMS', 'signing-key.gpg']) assert.ok((await fs.lstat(path.join(t, f))).isFile(), `${f} is a regular file`);
  assert.is(spawnSync('gpgv', ['--keyring', path.join(t, 'signing-key.gpg'), 'index.json.sig', 'index.json'], { cwd: t }).status, 0);
  assert.not.ok(await exists(path.join(t, '.index.json.new')));
});

test('low: a symlinked debian12/ subdirectory sends nothing outside the target; a symlink at a file the index names is refused too', async () => {
  const t = path.join(site, 'sub');
  const d = path.join(outside, 'sub-d');
  await fs.mkdir(t);
  await fs.mkdir(d);
  await fs.symlink(d, path.join(t, 'debian12'));
  const r = await pub(t);
  assert.is(r.code, 3, r.stderr + r.stdout);
  assert.match(r.stderr, /debian12 \(a symlink to .*sub-d\)/);
  assert.equal(await fs.readdir(d), []);
  assert.not.ok(await exists(path.join(t, 'index.json')));
  const p = await pub(t, ['--prune-foreign']);
  assert.is(p.code, 0, p.stderr + p.stdout);
  assert.equal(await fs.readdir(d), [], 'nothing written outside the target');
  assert.ok((await fs.lstat(path.join(t, 'debian12'))).isDirectory());
  // a published module replaced by a link to a file outside: refused, the outside file untouched
  const idx = JSON.parse(await fs.readFile(path.join(t, 'index.json'), 'utf8'));
  const mod = path.join(t, idx.artifacts[0].path);
  const secret = path.join(outside, 'secret');
  await fs.writeFile(secret, 'secret');
  await fs.rm(mod);
  await fs.symlink(secret, mod);
  const s = await pub(t);
  assert.is(s.code, 3, s.stderr + s.stdout);
  assert.match(s.stderr, new RegExp(`${idx.artifacts[0].path.replaceAll('.', '\\.')} \\(a symlink to`));
  assert.is(await fs.readFile(secret, 'utf8'), 'secret');
});

test('every file the new index names is re-hashed in this run: a module changed in the target since the last run is rewritten from the store, not signed over', async () => {
  const t = path.join(site, 'rehash');
  assert.is((await pub(t, ['--kernels', K47])).code, 0);
  const a47 = JSON.parse(await fs.readFile(path.join(t, 'index.json'), 'utf8')).artifacts[0];
  const file = path.join(t, a47.path);
  const good = await fs.readFile(file);
  const bad = Buffer.from(good);
  bad[bad.length >> 1] ^= 0x01;
  await fs.writeFile(file, bad);
  await fs.writeFile(path.join(t, a47.plan), 'echo owned\n');
  const r = await pub(t, ['--kernels', K56]);
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.ok(Buffer.compare(await fs.readFile(file), good) === 0, 'the module is the store\'s bytes again');
  const idx = JSON.parse(await fs.readFile(path.join(t, 'index.json'), 'utf8'));
  assert.equal(idx.artifacts.map((a: { kernelRelease: string }) => a.kernelRelease), [K47, K56]);
  const sums = spawnSync('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: t, encoding: 'utf8' });
  assert.is(sums.status, 0, sums.stdout + sums.stderr);
  assert.not.match(await fs.readFile(path.join(t, a47.plan), 'utf8'), /owned/);
});

test('a bad --url (quotes, javascript:, shell characters) is a usage error (exit 2), nothing written', async () => {
  const t = path.join(site, 'badurl');
  for (const url of ["http://h/x'y", 'javascript:alert(1)', 'http://h/$(id)', 'http://h/a b', 'ftp://h/x', 'http://h/`id`', 'http://h/a;b']) {
    const r = await pub(t, ['--url', url]);
    assert.is(r.code, 2, `${url}: ${r.stderr}`);
    assert.match(r.stderr, /--url must be a plain http\(s\) URL/);
  }
  assert.not.ok(await exists(t));
});

test('serial and expiry: each publish raises the serial; install.sh (dash, bash 4.2) and prepare-host refuse a replayed older signed tree naming both serials, an expired one and one without a serial', async () => {
  const t = path.join(site, 'replay');
  assert.is((await pub(t, ['--kernels', K56])).code, 0);
  const old = path.join(tmp, 'replay-v1');
  await fs.cp(t, old, { recursive: true });
  const v1 = JSON.parse(await fs.readFile(path.join(t, 'index.json'), 'utf8'));
  assert.ok(Number.isSafeInteger(v1.serial) && v1.serial >= Math.floor(Date.now() / 1000) - 60, `serial ${v1.serial}`);
  assert.ok(Math.abs(v1.expires - (Date.now() / 1000 + 30 * 86400)) < 120, 'expires in 30 days by default');
  assert.is(new Date(v1.validUntil).getTime(), v1.expires * 1000);
  const p2 = await pub(t, ['--kernels', K47, '--valid-for', '2']);
  assert.is(p2.code, 0, p2.stderr);
  const v2 = JSON.parse(await fs.readFile(path.join(t, 'index.json'), 'utf8'));
  assert.match(p2.stdout, new RegExp(`index\\.json serial ${v2.serial}, valid until ${v2.validUntil.replaceAll('.', '\\.')}`));
  assert.ok(v2.serial > v1.serial, `${v2.serial} > ${v1.serial}`);
  assert.ok(Math.abs(v2.expires - (Date.now() / 1000 + 2 * 86400)) < 120, '--valid-for 2');
  const url = `${server.url}/replay`;
  const swap = async (from: string) => {
    await fs.rm(t, { recursive: true });
    await fs.cp(from, t, { recursive: true });
  };
  const cur = path.join(tmp, 'replay-v2');
  await fs.cp(t, cur, { recursive: true });

  for (const shell of ['dash', await bash42()]) {
    const state = await fs.mkdtemp(path.join(tmp, 'state-'));
    const dl = (n: string) => ['--download-only', path.join(state, n), '--kernel', K56];
    await swap(cur);
    const ok = await install(shell, url, state, dl('a'));
    assert.is(ok.code, 0, `${shell}: ${ok.out}`);
    assert.match(ok.out, new RegExp(`index\\.json serial ${v2.serial} \\(this host had none\\)`));
    const saved = (await fs.readFile(serialFile(state, url), 'utf8')).trim();
    assert.is(saved, `${v2.serial} ${url}`, 'the state file prepare-host reads too');
    await swap(old);
    const back = await install(shell, url, state, dl('b'));
    assert.is(back.code, 3, `${shell}: ${back.out}`);
    assert.match(back.out, new RegExp(`refused: index\\.json has serial ${v1.serial}, older than serial ${v2.serial} this host already accepted from ${url}`));
    assert.not.ok(await exists(path.join(state, 'b')), `${shell}: nothing saved`);
    // prepare-host reads the same state: it refuses the replay too
    try {
      await resolveArtifact(openArtifactSource(`${url}/`, { fingerprint: gpg.fingerprint, stateDir: state }), K56);
      assert.unreachable('prepare-host took the older tree');
    } catch (err) {
      assert.match((err as Error).message, new RegExp(`has serial ${v1.serial}, older than serial ${v2.serial} this host already accepted`));
    }
    // a genuinely signed index whose time is up, and an old-format one (no serial): refused
    await swap(cur);
    const idx = await fs.readFile(path.join(t, 'index.json'), 'utf8');
    const past = Math.floor(Date.now() / 1000) - 60;
    await fs.writeFile(path.join(t, 'index.json'), idx.replace(/"serial":\d+/, `"serial":${v2.serial + 5}`).replace(/"expires":\d+/, `"expires":${past}`));
    resign(t);
    const exp = await install(shell, url, state, dl('c'));
    assert.is(exp.code, 3, `${shell}: ${exp.out}`);
    assert.match(exp.out, new RegExp(`refused: index\\.json \\(serial ${v2.serial + 5}\\) expired at ${v2.validUntil.replaceAll('.', '\\.')}|refused: index\\.json \\(serial ${v2.serial + 5}\\) expired at`));
    await fs.writeFile(path.join(t, 'index.json'), idx.replace(/,"serial":\d+,"validUntil":"[^"]*","expires":\d+/, ''));
    resign(t);
    const pre = await install(shell, url, state, dl('d'));
    assert.is(pre.code, 3, `${shell}: ${pre.out}`);
    assert.match(pre.out, /refused: index\.json carries no serial and expiry/);
  }
  // prepare-host: expired (its clock moved past --valid-for 2) and the CLI's exit status
  await swap(cur);
  const state = await fs.mkdtemp(path.join(tmp, 'state-ph-'));
  const later = () => new Date(Date.now() + 3 * 86400_000);
  try {
    await resolveArtifact(openArtifactSource(`${url}/`, { fingerprint: gpg.fingerprint, stateDir: state, now: later }), K56);
    assert.unreachable('an expired index was taken');
  } catch (err) {
    assert.match((err as Error).message, new RegExp(`serial ${v2.serial}\\) expired at ${v2.validUntil.replaceAll('.', '\\.')}`));
  }
  const env = { ...process.env, NBDFORGE_STATE_DIR: state };
  const ok = await cli(['prepare-host', '--from', url, '--fingerprint', gpg.fingerprint, '--kernel', K56, '--emit-script', '-'], env);
  assert.is(ok.code, 0, ok.stderr);
  await swap(old);
  const r = await cli(['prepare-host', '--from', url, '--fingerprint', gpg.fingerprint, '--kernel', K56, '--emit-script', '-'], env);
  assert.is(r.code, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`serial ${v1.serial}, older than serial ${v2.serial}`));
  await swap(cur);
});

test('install.sh caps every download whether or not the server sends Content-Length, bounds retries, and refuses a --from that is not a plain URL', async () => {
  // requests per path: curl asks for index.json and the kernels/<release>/ copies in one run
  let hits = new Map<string, number>();
  const srv = http.createServer((req, res) => {
    hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1);
    if (req.url?.startsWith('/endless/')) {
      // no Content-Length: a body that never ends
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const more = () => {
        while (res.write(chunk)) if (res.destroyed) return;
        if (!res.destroyed) res.once('drain', more);
      };
      res.on('close', () => res.destroy());
      more();
    } else if (req.url?.startsWith('/cut/')) {
      // announces more than it sends, then drops the connection: wget would re-fetch it forever
      res.writeHead(200, { 'content-length': '100000' });
      res.write('{"schema":1');
      setTimeout(() => res.destroy(), 50);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
  const script = path.join(site, 'sub', 'install.sh');
  const state = await fs.mkdtemp(path.join(tmp, 'state-cap-'));
  try {
    for (const env of [{}, { NBDFORGE_DOWNLOADER: 'wget' }]) {
      const e = await run('dash', [script, '--from', `${base}/endless`, '--download-only', path.join(tmp, 'never')], { ...env, NBDFORGE_STATE_DIR: state, NBDFORGE_INSECURE_NO_SIGNATURE: '1' });
      assert.is(e.code, 3, e.out);
      assert.match(e.out, /more than the 16777216 bytes expected/);
      assert.ok(e.ms < 60_000, `${e.ms} ms`);
      hits = new Map();
      const c = await run('dash', [script, '--from', `${base}/cut`, '--download-only', path.join(tmp, 'never')], { ...env, NBDFORGE_STATE_DIR: state, NBDFORGE_INSECURE_NO_SIGNATURE: '1' });
      assert.is(c.code, 3, c.out);
      assert.ok((hits.get('/cut/index.json') ?? 0) >= 1 && [...hits.values()].every((n) => n <= 2), `${JSON.stringify(env)}: ${JSON.stringify([...hits])} requests for a cut body`);
    }
  } finally {
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
  }
  for (const from of ['javascript:alert(1)', "http://h/x'y", 'http://h/$(id)', 'http://h/a;b']) {
    const r = await run('dash', [script, '--from', from, '--download-only', path.join(tmp, 'never')]);
    assert.is(r.code, 2, `${from}: ${r.out}`);
  }
  assert.not.ok(await exists(path.join(tmp, 'never')));
});

test('issue 25: install.sh against a server that drips one byte a second ends each download within NBDFORGE_TIMEOUT, saying which bound, under dash (curl, GNU wget) and busybox sh (busybox wget)', async () => {
  const srv = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const t = setInterval(() => res.write(' '), 1000);
    res.on('close', () => clearInterval(t));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
  const script = path.join(site, 'sub', 'install.sh');
  const state = await fs.mkdtemp(path.join(tmp, 'state-drip-'));
  // busybox's own wget (no -T, no retries) comes first on PATH for the busybox case
  const bb = await fs.mkdtemp(path.join(tmp, 'busybox-'));
  for (const tool of ['wget', 'timeout', 'head']) await fs.symlink('/bin/busybox', path.join(bb, tool));
  try {
    // curl's one run asks for index.json and the three kernels/<release>/ copies: each its own bound
    // (curl 7.29 has no --fail-early to stop after the first), so at most four bounds in all
    const cases: Array<[string, string[], NodeJS.ProcessEnv, number]> = [
      ['dash + curl', ['dash', script], {}, 4],
      ['dash + GNU wget', ['dash', script], { NBDFORGE_DOWNLOADER: 'wget' }, 1],
      ['busybox sh + busybox wget', ['busybox', 'sh', script], { NBDFORGE_DOWNLOADER: 'wget', PATH: `${bb}:${process.env.PATH}` }, 1],
    ];
    for (const [name, [sh, ...argv], env, downloads] of cases) {
      const r = await run(sh, [...argv, '--from', `${base}/drip`, '--download-only', path.join(tmp, 'never')], { ...env, NBDFORGE_TIMEOUT: '3', NBDFORGE_STATE_DIR: state, NBDFORGE_INSECURE_NO_SIGNATURE: '1' });
      assert.is(r.code, 3, `${name}: ${r.out}`);
      assert.ok(r.ms < downloads * 3000 + 7000, `${name}: ${r.ms} ms for ${downloads} download(s) of a 3 s bound`);
      assert.match(r.out, /too slow \(below 1 KiB\/s for 3 s\) or not done within 3 s; another mirror, or NBDFORGE_TIMEOUT=SECONDS/, name);
    }
    const bad = await run('dash', [script, '--from', `${base}/drip`, '--download-only', path.join(tmp, 'never')], { NBDFORGE_TIMEOUT: '3s', NBDFORGE_STATE_DIR: state });
    assert.is(bad.code, 2, bad.out);
  } finally {
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
  }
});

test('issue 23: a publish that fills the file system part-way leaves the target exactly as the last good run left it, and the next run succeeds', async () => {
  const mnt = await fs.mkdtemp(path.join(tmp, 'tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'tmpfs', mnt]);
  try {
    const t = path.join(mnt, 'site');
    assert.is((await pub(t, ['--kernels', K47])).code, 0);
    const before = await snapshot(t);
    // fill the file system, then free one page more each time: the run fails at every point it can
    // (module, manifest, plan, each top file, the signature) until it fits; each failure leaves the
    // tree exactly as it was
    const fill = path.join(mnt, 'filler');
    spawnSync('dd', ['if=/dev/zero', `of=${fill}`, 'bs=4096'], { stdio: 'ignore' });
    const full = (await fs.stat(fill)).size;
    let failures = 0;
    for (let pages = 0; pages < 64; pages++) {
      await fs.truncate(fill, full - pages * 4096);
      const r = await pub(t);
      if (r.code === 0) break;
      failures++;
      assert.is(r.code, 1, r.stderr + r.stdout);
      assert.match(r.stdout + r.stderr, /FAILED: .*(ENOSPC|No space left on device)/, `${pages} pages free: ${r.stdout}${r.stderr}`);
      assert.equal(await snapshot(t), before, `${pages} pages free: the target is as the last good run left it`);
    }
    assert.ok(failures >= 3, `the run failed at ${failures} points before it fitted`);
    await fs.rm(fill);
    const again = await pub(t);
    assert.is(again.code, 0, again.stderr + again.stdout);
    assert.match(again.stdout, /nothing to publish/);
    const idx = JSON.parse(await fs.readFile(path.join(t, 'index.json'), 'utf8'));
    assert.equal(idx.artifacts.map((a: { kernelRelease: string }) => a.kernelRelease), [K47, K56]);
    // and publish --help says which of the two ways issue 23 allows this is
    const h = await cli(['publish', '--help']);
    assert.match(h.stdout.replace(/\s+/g, ' '), /A run that fails part-way \(a full disk\) removes what it wrote and puts back what it replaced: PATH is left as the last successful run left it/);
  } finally {
    // lazily if something still holds it, so a failure above is what the test reports
    if (spawnSync('umount', [mnt]).status !== 0) execFileSync('umount', ['-l', mnt]);
  }
});

test.run();
