/**
 * The kernels/<release>/ copies of a published directory (release-files.ts: what install.sh fetches in
 * the same curl run as index.json): written by publish, left alone by a re-publish with nothing new (0
 * bytes), rewritten from the store when they were changed or removed in the target, removed with their
 * release when it leaves the index, covered by SHA256SUMS, and treated as hostile input like the rest of
 * the tree (a planted link or file is refused, or moved aside with --prune-foreign, never followed).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { putModule, gpgHome, cli, type GpgHome } from './publish-fixtures.ts';
import { proveStoreFixture } from '../fixtures/proof.ts';

const K47 = '6.1.0-47-amd64';
const K50 = '6.1.0-50-amd64';
const K56 = '6.1.0-56-amd64';
let tmp = '';
let store = '';
let site = '';
let gpg: GpgHome;
const exists = (p: string) => fs.lstat(p).then(() => true, () => false);

async function pub(extra: string[] = []): Promise<{ code: number; out: string; json?: { nothingToPublish: boolean; bytesSent: number } }> {
  const r = await cli(['publish', '--store', store, '--to', `dir:${site}`, '--gpg-key', gpg.fingerprint, '--json', ...extra], gpg.env);
  let json;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    // a refusal prints no JSON document
  }
  return { code: r.code, out: r.stderr + r.stdout, json };
}

const copy = (k: string, f: string) => path.join(site, 'kernels', k, f);
const stored = async (k: string, f?: string) => {
  const st = new DirStore(store);
  const [e] = await st.list({ kernelRelease: k });
  return fs.readFile(st.artifactPath(e, f));
};
const sumsOk = () => spawnSync('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: site, encoding: 'utf8' });

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-publish-releases-'));
  store = path.join(tmp, 'store');
  site = path.join(tmp, 'site');
  await putModule(store, K47);
  await putModule(store, K56);
  await proveStoreFixture(store, (k) => k === K56);
  gpg = await gpgHome();
});

test.after(async () => {
  for (const d of [tmp, gpg?.home]) if (d) await fs.rm(d, { recursive: true, force: true });
});

test('publish writes kernels/<release>/ copies (byte-identical, in SHA256SUMS); a re-publish with nothing new writes 0 bytes and leaves them alone', async () => {
  const r = await pub();
  assert.is(r.code, 0, r.out);
  assert.equal((await fs.readdir(path.join(site, 'kernels'))).sort(), [K47, K56]);
  assert.ok(Buffer.compare(await fs.readFile(copy(K56, 'nbd.ko')), await stored(K56)) === 0);
  assert.ok(Buffer.compare(await fs.readFile(copy(K56, 'proof.json')), await stored(K56, 'proof.json')) === 0);
  assert.not.ok(await exists(copy(K47, 'proof.json')), 'no proof for the unproven 47');
  const idx = JSON.parse(await fs.readFile(path.join(site, 'index.json'), 'utf8'));
  for (const a of idx.artifacts) assert.ok(Buffer.compare(await fs.readFile(copy(a.kernelRelease, 'prepare-host.sh')), await fs.readFile(path.join(site, a.plan))) === 0, a.plan);
  const sums = await fs.readFile(path.join(site, 'SHA256SUMS'), 'utf8');
  for (const f of [`kernels/${K47}/nbd.ko`, `kernels/${K47}/prepare-host.sh`, `kernels/${K56}/nbd.ko`, `kernels/${K56}/prepare-host.sh`, `kernels/${K56}/proof.json`]) assert.match(sums, `  ${f}\n`);
  assert.is(sumsOk().status, 0, sumsOk().stdout);

  const ino = (await fs.stat(copy(K56, 'nbd.ko'))).ino;
  const again = await pub();
  assert.is(again.code, 0, again.out);
  assert.is(again.json?.nothingToPublish, true, again.out);
  assert.is(again.json?.bytesSent, 0);
  assert.is((await fs.stat(copy(K56, 'nbd.ko'))).ino, ino, 'not rewritten');
});

test('a copy changed or removed in the target is rewritten from the store; a release that leaves the index loses its folder', async () => {
  // removed: the directory no longer holds what the index names, so the next run publishes again
  await fs.rm(copy(K56, 'nbd.ko'));
  const r = await pub();
  assert.is(r.code, 0, r.out);
  assert.is(r.json?.nothingToPublish, false, r.out);
  assert.ok(Buffer.compare(await fs.readFile(copy(K56, 'nbd.ko')), await stored(K56)) === 0, 'restored');
  // changed (same size): rewritten by the next run that publishes anything, never signed over
  const bad = await fs.readFile(copy(K47, 'nbd.ko'));
  bad[bad.length >> 1] ^= 0x01;
  await fs.writeFile(copy(K47, 'nbd.ko'), bad);
  await fs.writeFile(copy(K47, 'prepare-host.sh'), 'echo owned\n');
  await putModule(store, K50);
  // 47 leaves the store's index (as if it was dropped), so the next index leaves it out
  const st = new DirStore(store);
  const idxFile = path.join(store, 'index.json');
  const sidx = JSON.parse(await fs.readFile(idxFile, 'utf8'));
  const saved = JSON.stringify(sidx);
  assert.ok(sidx.artifacts.some((a: { kernelRelease: string }) => a.kernelRelease === K47));
  const p = await pub(['--kernels', K50]);
  assert.is(p.code, 0, p.out);
  assert.ok(Buffer.compare(await fs.readFile(copy(K47, 'nbd.ko')), await stored(K47)) === 0, 'the store\'s bytes again');
  assert.not.match(await fs.readFile(copy(K47, 'prepare-host.sh'), 'utf8'), /owned/);
  assert.is(sumsOk().status, 0, sumsOk().stdout);
  await fs.writeFile(idxFile, JSON.stringify({ ...sidx, artifacts: sidx.artifacts.filter((a: { kernelRelease: string }) => a.kernelRelease !== K47) }));
  assert.is((await st.list({ kernelRelease: K47 })).length, 0);
  await putModule(store, '6.1.0-53-amd64');
  const q = await pub(['--kernels', '6.1.0-53-amd64']);
  assert.is(q.code, 0, q.out);
  const names = JSON.parse(await fs.readFile(path.join(site, 'index.json'), 'utf8')).artifacts.map((a: { kernelRelease: string }) => a.kernelRelease);
  assert.not.ok(names.includes(K47), names.join(' '));
  assert.equal((await fs.readdir(path.join(site, 'kernels'))).sort(), ['6.1.0-53-amd64', K50, K56].sort());
  assert.is(sumsOk().status, 0, sumsOk().stdout);
  await fs.writeFile(idxFile, saved);
});

test('kernels/ is hostile input too: a link planted at a copy or a file nbdforge did not write is refused (nothing written), moved aside with --prune-foreign, the link\'s target untouched', async () => {
  const outside = path.join(tmp, 'outside');
  await fs.writeFile(outside, 'not yours');
  await fs.rm(copy(K50, 'nbd.ko'));
  await fs.symlink(outside, copy(K50, 'nbd.ko'));
  await fs.writeFile(copy(K56, 'extra.sh'), 'echo planted\n');
  const idx = await fs.readFile(path.join(site, 'index.json'));
  const r = await pub(['--kernels', K50]);
  assert.is(r.code, 3, r.out);
  assert.match(r.out, new RegExp(`kernels/${K50.replaceAll('.', '\\.')}/nbd\\.ko \\(a symlink to`));
  assert.match(r.out, new RegExp(`kernels/${K56.replaceAll('.', '\\.')}/extra\\.sh`));
  assert.ok(Buffer.compare(await fs.readFile(path.join(site, 'index.json')), idx) === 0, 'nothing signed');
  const p = await pub(['--kernels', K50, '--prune-foreign']);
  assert.is(p.code, 0, p.out);
  assert.is(await fs.readFile(outside, 'utf8'), 'not yours');
  assert.ok((await fs.lstat(copy(K50, 'nbd.ko'))).isFile(), 'a regular file again');
  assert.ok(Buffer.compare(await fs.readFile(copy(K50, 'nbd.ko')), await stored(K50)) === 0);
  assert.not.ok(await exists(copy(K56, 'extra.sh')));
  assert.is(sumsOk().status, 0, sumsOk().stdout);
});

test.run();
