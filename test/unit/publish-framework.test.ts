/**
 * `nbdforge publish`, the framework: selection from a real store, re-hash before sending, records of
 * what went where, a re-run that sends nothing, and every refusal leaving target and records untouched.
 * Uses the dir target (the one with no server) through the real CLI entry point.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PublishRecords, type PublishRecord } from '../../src/publish/records.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { kindOf } from '../../src/publish/targets.ts';
import { putModule, gpgHome, cli, type GpgHome } from './publish-fixtures.ts';

const K56 = '6.1.0-56-amd64';
const K47 = '6.1.0-47-amd64';
let tmp = '';
let store = '';
let gpg: GpgHome;
const exists = (p: string) => fs.access(p).then(() => true, () => false);
const records = () => new PublishRecords(store).read();

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-publish-fw-'));
  store = path.join(tmp, 'store');
  await putModule(store, K56);
  await putModule(store, K47);
  gpg = await gpgHome();
});

test.after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.rm(gpg.home, { recursive: true, force: true });
});

test('publish records what went where; a re-run sends nothing, says so, in under a second', async () => {
  const out = path.join(tmp, 'site');
  const r = await cli(['publish', '--store', store, '--to', `dir:${out}`, '--gpg-key', gpg.fingerprint, '--json'], gpg.env);
  assert.is(r.code, 0, r.stderr + r.stdout);
  const s = JSON.parse(r.stdout);
  assert.is(s.ok, true);
  assert.is(s.nothingToPublish, false);
  assert.equal(s.targets[0].published.map((p: { kernelRelease: string }) => p.kernelRelease).sort(), [K47, K56]);
  assert.ok(s.bytesSent > 2 * 1000, `bytes sent ${s.bytesSent}`);
  const recs = await records();
  assert.is(recs.length, 2);
  for (const rec of recs) {
    assert.is(rec.target, `dir:${out}`);
    assert.is(rec.kind, 'dir');
    assert.is(rec.signer, gpg.fingerprint);
    assert.ok(await exists(path.join(out, rec.ref)), `${rec.ref} is where the record says`);
    const [entry] = await new DirStore(store).list({ kernelRelease: rec.kernelRelease });
    assert.is(rec.key, entry.key);
    assert.is(rec.sha256, entry.sha256);
    assert.ok(Date.now() - Date.parse(rec.publishedAt) < 60_000);
  }
  const t0 = performance.now();
  const again = await cli(['publish', '--store', store, '--to', `dir:${out}`, '--gpg-key', gpg.fingerprint], gpg.env);
  const ms = performance.now() - t0;
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stdout, /^nothing to publish: dir:\S+ already has the 2 selected artifacts/);
  assert.ok(ms < 1000, `re-run took ${ms} ms`);
  assert.equal(await records(), recs, 'records unchanged by a re-run');
  const j = JSON.parse((await cli(['publish', '--store', store, '--to', `dir:${out}`, '--gpg-key', gpg.fingerprint, '--json'], gpg.env)).stdout);
  assert.is(j.bytesSent, 0);
  assert.is(j.nothingToPublish, true);
});

test('only what is missing is sent: one kernel added, one published file deleted', async () => {
  const out = path.join(tmp, 'partial');
  assert.is((await cli(['publish', '--store', store, '--to', `dir:${out}`, '--unsigned', '--kernels', K56, '--json'])).code, 0);
  const r = JSON.parse((await cli(['publish', '--store', store, '--to', `dir:${out}`, '--unsigned', '--json'])).stdout);
  assert.equal(r.targets[0].published.map((p: { kernelRelease: string }) => p.kernelRelease), [K47]);
  assert.equal(r.targets[0].upToDate, [K56]);
  // the records say published, the target says gone: the target wins
  const idx = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8'));
  await fs.rm(path.join(out, idx.artifacts.find((a: { kernelRelease: string }) => a.kernelRelease === K56).path));
  const r2 = JSON.parse((await cli(['publish', '--store', store, '--to', `dir:${out}`, '--unsigned', '--json'])).stdout);
  assert.equal(r2.targets[0].published.map((p: { kernelRelease: string }) => p.kernelRelease), [K56]);
  assert.ok(r2.targets[0].published[0].bytesSent > 1000);
  // signing with a key after an unsigned publish publishes again (the index gets signed)
  const r3 = JSON.parse((await cli(['publish', '--store', store, '--to', `dir:${out}`, '--gpg-key', gpg.fingerprint, '--json'], gpg.env)).stdout);
  assert.is(r3.targets[0].published.length, 2);
  assert.ok(await exists(path.join(out, 'index.json.sig')));
});

test('two publishes into one directory at once both land in its index', async () => {
  const out = path.join(tmp, 'concurrent');
  const [a, b] = await Promise.all([
    cli(['publish', '--store', store, '--to', `dir:${out}`, '--unsigned', '--kernels', K56]),
    cli(['publish', '--store', store, '--to', `dir:${out}`, '--unsigned', '--kernels', K47]),
  ]);
  assert.is(a.code, 0, a.stderr);
  assert.is(b.code, 0, b.stderr);
  const idx = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8'));
  assert.equal(idx.artifacts.map((x: { kernelRelease: string }) => x.kernelRelease), [K47, K56]);
  assert.not.ok(await exists(path.join(out, '.nbdforge-publish.lock')));
});

test('a stored module that no longer matches its manifest is refused before anything is sent', async () => {
  const bad = path.join(tmp, 'bad-store');
  await fs.cp(store, bad, { recursive: true });
  await fs.rm(path.join(bad, 'publish-records.json'), { force: true });
  const [entry] = await new DirStore(bad).list({ kernelRelease: K47 });
  const f = new DirStore(bad).artifactPath(entry);
  const b = await fs.readFile(f);
  b[b.length >> 1] ^= 0x40;
  await fs.writeFile(f, b);
  const out = path.join(tmp, 'never');
  const r = await cli(['publish', '--store', bad, '--to', `dir:${out}`, '--unsigned']);
  assert.is(r.code, 3, r.stderr);
  assert.match(r.stderr, /no longer match their manifest; nothing was sent/);
  assert.match(r.stderr, new RegExp(`${K47}.*sha256 [0-9a-f]{64}, the manifest says ${entry.sha256}`));
  assert.not.ok(await exists(out), 'target directory not created');
  assert.not.ok(await exists(path.join(bad, 'publish-records.json')), 'nothing recorded');
});

test('bad input: unknown kernel (named with what the store has), unknown target kind, unwritable dir, missing gpg key: nothing touched', async () => {
  const before: PublishRecord[] = await records();
  const out = path.join(tmp, 'untouched');
  const k = await cli(['publish', '--store', store, '--to', `dir:${out}`, '--unsigned', '--kernels', '6.1.0-55-amd64']);
  assert.is(k.code, 3);
  assert.match(k.stderr, /holds no nbd\.ko for 6\.1\.0-55-amd64; it holds 6\.1\.0-47-amd64 \(debian12\), 6\.1\.0-56-amd64 \(debian12\)/);
  assert.match(k.stderr, /never builds/);

  const u = await cli(['publish', '--store', store, '--to', 'ftp://example.invalid/x']);
  assert.is(u.code, 2);
  assert.match(u.stderr, /unknown or unavailable target kind "ftp".*dir:PATH/);
  assert.is((await cli(['publish', '--store', store, '--to', 'nowhere'])).code, 2);
  assert.is((await cli(['publish', '--store', store, '--to', 'dir:'])).code, 2);
  assert.is((await cli(['publish', '--store', store])).code, 2);
  assert.throws(() => kindOf('yum2:/x'), /unknown or unavailable target kind "yum2"/);

  const file = path.join(tmp, 'a-file');
  await fs.writeFile(file, 'x');
  // a target that is a file or below one: a usage error before any work (issue 19 item 4)
  const w = await cli(['publish', '--store', store, '--to', `dir:${file}/sub`, '--unsigned']);
  assert.is(w.code, 2);
  assert.match(w.stderr, /--to dir:.*a-file\/sub: .*a-file\/sub is below a file \(.*a-file\): give a directory/);
  const f = await cli(['publish', '--store', store, '--to', `dir:${file}`, '--unsigned']);
  assert.is(f.code, 2);
  assert.match(f.stderr, /a-file is a file, not a directory: give a directory \(publish creates it when missing\)/);
  // /proc takes no new files, even from root (a permission check alone would pass for root)
  const p = await cli(['publish', '--store', store, '--to', 'dir:/proc/nbdforge-publish-test', '--unsigned']);
  assert.is(p.code, 3);
  assert.match(p.stderr, /cannot publish to dir:\/proc\/nbdforge-publish-test: .* is not writable \(\w+ creating a file in \/proc\)/);

  // a key that names nothing usable is a usage error (exit 2), for every target kind (issue 16 item 5)
  const g = await cli(['publish', '--store', store, '--to', `dir:${out}`, '--gpg-key', 'no-such-key@nbdforge.invalid'], gpg.env);
  assert.is(g.code, 2, g.stderr);
  assert.match(g.stderr, new RegExp(`gpg key no-such-key@nbdforge.invalid: no secret key in GNUPGHOME=${gpg.home}`));

  assert.not.ok(await exists(out), 'no target directory made');
  assert.not.ok(await exists(path.join(tmp, 'a-file-sub')));
  assert.equal(await records(), before, 'records unchanged');
  assert.equal((await fs.readdir(tmp)).filter((f) => f.startsWith('.nbdforge-probe')), [], 'no probe left behind');
});

test('explicit unsigned: no key needs --unsigned, an empty or unusable --gpg-key is exit 2, for dir, apt and yum alike; nothing touched', async () => {
  const before: PublishRecord[] = await records();
  const out = path.join(tmp, 'no-key');
  for (const to of [`dir:${out}`, `apt:${out}-apt`, `yum:${out}-yum`]) {
    const none = await cli(['publish', '--store', store, '--to', to], gpg.env);
    assert.is(none.code, 2, `${to}: ${none.stderr}`);
    assert.match(none.stderr, /needs a signing key: pass --gpg-key KEYID, or --unsigned/);
    const empty = await cli(['publish', '--store', store, '--to', to, '--gpg-key', ''], gpg.env);
    assert.is(empty.code, 2, `${to}: ${empty.stderr}`);
    assert.match(empty.stderr, /--gpg-key is empty/);
    const blank = await cli(['publish', '--store', store, '--to', to, '--gpg-key', ' '], gpg.env);
    assert.is(blank.code, 2, blank.stderr);
    const both = await cli(['publish', '--store', store, '--to', to, '--gpg-key', gpg.fingerprint, '--unsigned'], gpg.env);
    assert.is(both.code, 2, both.stderr);
    assert.match(both.stderr, /exclude each other/);
  }
  // an expired key names nothing usable either
  const exp = await gpgHome('expired <expired@nbdforge.invalid>');
  try {
    const { execFileSync } = await import('node:child_process');
    execFileSync('gpg', ['--batch', '--quick-set-expire', exp.fingerprint, 'seconds=1'], { env: exp.env, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 2100));
    const e = await cli(['publish', '--store', store, '--to', `dir:${out}`, '--gpg-key', exp.fingerprint], exp.env);
    assert.is(e.code, 2, e.stderr);
    assert.match(e.stderr, /expired/);
  } finally {
    await fs.rm(exp.home, { recursive: true, force: true });
  }
  for (const bad of ['0', '-1', 'x', '1.5', '']) {
    const v = await cli(['publish', '--store', store, '--to', `dir:${out}`, '--unsigned', '--valid-for', bad]);
    assert.is(v.code, 2, `--valid-for ${bad}: ${v.stderr}`);
  }
  assert.not.ok(await exists(out), 'no target directory made');
  assert.equal(await records(), before, 'records unchanged');
});

test('records: concurrent writers keep each other\'s records; a newer publish of a key replaces the older', async () => {
  const dir = await fs.mkdtemp(path.join(tmp, 'rec-'));
  const r = new PublishRecords(dir);
  const rec = (target: string, key: string, ref: string): PublishRecord => ({
    target, kind: 'dir', key, family: 'debian12', kernelRelease: 'k', sha256: key, ref, signer: '', bytesSent: 1, publishedAt: new Date().toISOString(),
  });
  await Promise.all(Array.from({ length: 8 }, (_, i) => r.add([rec(`dir:/t${i}`, 'a'.repeat(64), `x${i}`)])));
  assert.is((await r.read()).length, 8);
  await r.add([rec('dir:/t0', 'a'.repeat(64), 'newer')]);
  const all = await r.read();
  assert.is(all.length, 8);
  assert.is(all.find((x) => x.target === 'dir:/t0')!.ref, 'newer');
  await fs.writeFile(r.file, '{"not": "records"}');
  try {
    await r.read();
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /not a nbdforge publish records file/);
  }
});

test.run();
