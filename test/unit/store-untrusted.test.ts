/**
 * Issue 8: the store and everything it reads are untrusted. Each test is one reproduced failure of
 * the old store (deletion outside the store, a false cache hit, ENOTEMPTY on a replace, endless
 * lock waits, bare errors, leftover scratch) turned into the behaviour the README promises.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { ArtifactRefusedError, DirStore, StoreCorruptError } from '../../src/artifacts/dir-store.ts';
import type { Manifest } from '../../src/artifacts/manifest.ts';
import { withFileLock, LockTimeoutError, ownerStamp } from '../../src/util/file-lock.ts';
import { leftoverScratch } from '../../src/builder/scratch.ts';
import { redact } from '../../src/util/redact.ts';
import { buildModule } from './fixtures-elf.ts';

const sha = (d: string | Uint8Array) => createHash('sha256').update(d).digest('hex');
const exists = (p: string) => fs.lstat(p).then(() => true, () => false);
const cli = path.resolve('bin/nbdforge.js');
let tmp = '';
let n = 0;

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-untrusted-'));
});
test.after(() => fs.rm(tmp, { recursive: true, force: true }));

async function artifact(kernelRelease = '6.1.0-56-amd64', tag = 'a') {
  const src = path.join(tmp, `src-${n++}`);
  await fs.mkdir(src);
  const ko = buildModule({ vermagic: `${kernelRelease} SMP preempt mod_unload modversions `, greeting: tag }).bytes;
  await fs.writeFile(path.join(src, 'nbd.ko'), ko);
  await fs.writeFile(path.join(src, 'nbd.ko.debug'), 'debug');
  const manifest: Manifest = {
    schema: 1, key: sha(`key ${kernelRelease} ${tag}`), family: 'debian12', kernelRelease, module: 'nbd', file: 'nbd.ko', debugFile: 'nbd.ko.debug',
    sha256: sha(ko), size: ko.length, debugSha256: sha('debug'), vermagic: `${kernelRelease} SMP preempt mod_unload modversions`,
    checks: [{ name: 'vermagic', ok: true, detail: 'matches' }], inputs: {}, builderImage: 'sha256:' + sha('i'), compiler: 'gcc-12',
    durationMs: 1, tool: { name: 'nbdforge', version: '0.1.0' }, createdAt: new Date(Date.now() + n).toISOString(),
  };
  return { manifest, files: { module: path.join(src, 'nbd.ko'), debug: path.join(src, 'nbd.ko.debug') } };
}

async function freshStore() {
  const root = path.join(tmp, `store-${n++}`);
  const a = await artifact();
  const entry = await new DirStore(root).put(a.manifest, a.files);
  return { root, entry, a };
}

async function editIndex(root: string, edit: (idx: { artifacts: Array<Record<string, unknown>> }) => void) {
  const file = path.join(root, 'index.json');
  const idx = JSON.parse(await fs.readFile(file, 'utf8'));
  edit(idx);
  await fs.writeFile(file, JSON.stringify(idx));
}

async function rejectsWith(p: Promise<unknown>, type: Function, re: RegExp): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, type, `${(err as Error).name}: ${(err as Error).message}`);
    assert.match((err as Error).message, re);
    return err as Error;
  }
  throw new Error('expected a rejection');
}

test('8.1 an index entry whose dir points outside the store is refused; a repairing put deletes nothing outside', async () => {
  for (const bad of ['../../outside-victim', '.', '', 'debian12/6.1.0-56-amd64', '/etc']) {
    const { root } = await freshStore();
    const victim = path.join(root, '..', '..', 'outside-victim');
    await fs.mkdir(victim, { recursive: true });
    await fs.writeFile(path.join(victim, 'precious'), 'keep me');
    await editIndex(root, (idx) => (idx.artifacts[0].dir = bad));
    // a reader refuses, naming the file and the fix
    const err = await rejectsWith(new DirStore(root).readIndex(), StoreCorruptError, /index\.json: artifacts\[0\]: field "dir" must be the store's own directory name/);
    assert.match(err.message, /nbdforge build --force/);
    // a writer (build) replacing that kernel's artifact repairs the index and removes nothing outside it
    const notes: string[] = [];
    const b = await artifact('6.1.0-56-amd64', `rebuilt ${bad}`);
    const e = await new DirStore(root, { onRepair: (m) => notes.push(m) }).put(b.manifest, b.files);
    assert.is(await fs.readFile(path.join(victim, 'precious'), 'utf8'), 'keep me', `dir ${JSON.stringify(bad)}`);
    assert.ok(await exists(path.join(root, e.dir, 'nbd.ko')));
    assert.ok(await exists(path.join(root, 'index.json')));
    assert.is(notes.length, 1);
    assert.match(notes[0], /kept it as .*index\.json\.corrupt-/);
    assert.equal((await new DirStore(root).readIndex()).artifacts.map((x) => x.key), [b.manifest.key]);
    await fs.rm(victim, { recursive: true, force: true });
  }
});

test('8.1 manifests and index entries with path-like names are refused everywhere they are read', async () => {
  const { root, entry } = await freshStore();
  const store = new DirStore(root);
  assert.throws(() => store.artifactPath({ ...entry, dir: '../x' }), /not the store's own/);
  assert.throws(() => store.artifactPath(entry, '../../etc/passwd'), /not the store's own/);
  for (const [field, value] of [['kernelRelease', '..'], ['family', 'a/b'], ['file', '../nbd.ko'], ['key', 'zz'], ['sha256', 7]] as const) {
    const { root: r } = await freshStore();
    await editIndex(r, (idx) => (idx.artifacts[0][field] = value));
    await rejectsWith(new DirStore(r).readIndex(), StoreCorruptError, new RegExp(`field "${field}"`));
  }
  const mf = path.join(root, entry.dir, 'manifest.json');
  const m = JSON.parse(await fs.readFile(mf, 'utf8'));
  await fs.writeFile(mf, JSON.stringify({ ...m, kernelRelease: '..' }));
  await rejectsWith(store.readManifest(entry), StoreCorruptError, /manifest\.json: field "kernelRelease" must be a plain name/);
});

test('8.2 a cache hit is re-hashed: flipped byte, deleted module, zeroed manifest sha, deleted directory are all unhealthy', async () => {
  const damage: Record<string, (root: string, dir: string) => Promise<void>> = {
    'flipped byte': async (root, dir) => {
      const f = path.join(root, dir, 'nbd.ko');
      const b = await fs.readFile(f);
      b[100] ^= 0xff;
      await fs.writeFile(f, b);
    },
    'deleted module': (root, dir) => fs.rm(path.join(root, dir, 'nbd.ko')),
    'zeroed manifest sha256': async (root, dir) => {
      const f = path.join(root, dir, 'manifest.json');
      await fs.writeFile(f, JSON.stringify({ ...JSON.parse(await fs.readFile(f, 'utf8')), sha256: '0'.repeat(64) }));
    },
    'deleted directory': (root, dir) => fs.rm(path.join(root, dir), { recursive: true }),
  };
  for (const [what, hurt] of Object.entries(damage)) {
    const { root, entry } = await freshStore();
    const store = new DirStore(root);
    assert.ok((await store.verify(entry)).ok, 'healthy before');
    await hurt(root, entry.dir);
    const h = await store.verify(entry);
    assert.not.ok(h.ok, what);
    if (!h.ok) assert.ok(h.why.length > 10, h.why);
  }
});

test('8.3 concurrent puts of one key from separate processes\' stores all succeed and leave exactly one artifact', async () => {
  const { root, a } = await freshStore();
  const results = await Promise.allSettled(Array.from({ length: 6 }, () => new DirStore(root).put(a.manifest, a.files)));
  assert.equal(results.map((r) => r.status), Array(6).fill('fulfilled'), JSON.stringify(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))));
  const idx = await new DirStore(root).readIndex();
  assert.is(idx.artifacts.length, 1);
  const kdir = path.join(root, 'debian12', '6.1.0-56-amd64');
  assert.equal(await fs.readdir(kdir), [path.basename(idx.artifacts[0].dir)]);
  assert.ok((await new DirStore(root).verify(idx.artifacts[0])).ok);
});

test('8.5 a lock that is empty and old, or names a live process that is not nbdforge, is stale and taken over at once', async () => {
  const lock = path.join(tmp, 'locks', 'a.lock');
  await fs.mkdir(path.dirname(lock), { recursive: true });
  await fs.writeFile(lock, '');
  const old = new Date(Date.now() - 60_000);
  await fs.utimes(lock, old, old);
  let t0 = Date.now();
  assert.is(await withFileLock(lock, async () => 'got it', { timeoutMs: 3000 }), 'got it');
  assert.ok(Date.now() - t0 < 1000);
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await fs.writeFile(lock, String(sleeper.pid)); // the old format: a bare pid, here of a live unrelated process
    t0 = Date.now();
    assert.is(await withFileLock(lock, async () => 'again', { timeoutMs: 3000 }), 'again');
    assert.ok(Date.now() - t0 < 1000);
    // a stamp whose pid now belongs to another process (start time differs) is stale too
    await fs.writeFile(lock, `nbdforge ${sleeper.pid} 1\n`);
    assert.is(await withFileLock(lock, async () => 'reused pid', { timeoutMs: 3000 }), 'reused pid');
  } finally {
    sleeper.kill();
  }
});

test('8.5 a lock held by a live nbdforge process: the wait is bounded and names the holder; Ctrl-C (abort) ends it at once', async () => {
  const lock = path.join(tmp, 'locks', 'held.lock');
  await fs.writeFile(lock, ownerStamp(process.pid));
  const t0 = Date.now();
  const err = await rejectsWith(withFileLock(lock, async () => 'never', { timeoutMs: 700 }), LockTimeoutError, /held by nbdforge process \d+/);
  assert.match(err.message, lock);
  assert.match(err.message, /remove /);
  assert.ok(Date.now() - t0 < 3000);
  const ac = new AbortController();
  const p = withFileLock(lock, async () => 'never', { signal: ac.signal, timeoutMs: 60_000 });
  setTimeout(() => ac.abort(new Error('interrupted by SIGINT')), 200);
  const t1 = Date.now();
  await rejectsWith(p, Error, /interrupted by SIGINT|aborted/);
  assert.ok(Date.now() - t1 < 2000);
  await fs.rm(lock);
});

test('8.8 a corrupt store: readers get StoreCorruptError naming the file and the fix; prepare-host exits 3', async () => {
  const cases: Record<string, string> = { truncated: '{"schema": 1, "artif', empty: '', garbage: '\u0000\u0001binary', 'wrong types': '{"schema": 1, "artifacts": {"a": 1}}', 'entry types': '{"schema":1,"artifacts":[{"key":1}]}' };
  for (const [what, text] of Object.entries(cases)) {
    const { root } = await freshStore();
    await fs.writeFile(path.join(root, 'index.json'), text);
    const err = await rejectsWith(new DirStore(root).readIndex(), StoreCorruptError, /index\.json/);
    assert.match(err.message, /nbdforge build --force/, what);
    const out = path.join(tmp, `prep-${n++}.sh`);
    const r = spawnSync(cli, ['prepare-host', '--from', root, '--kernel', '6.1.0-56-amd64', '--emit-script', out], { encoding: 'utf8' });
    assert.is(r.status, 3, `${what}: ${r.stderr}${r.stdout}`);
    assert.match(r.stdout + r.stderr, /index\.json/);
    assert.not.match(r.stdout + r.stderr, /SyntaxError|TypeError/);
    assert.not.ok(await exists(out));
  }
  // garbage manifest, and a missing module: also 3, naming the file
  for (const hurt of ['manifest', 'module'] as const) {
    const { root, entry } = await freshStore();
    if (hurt === 'manifest') await fs.writeFile(path.join(root, entry.dir, 'manifest.json'), '<html>');
    else await fs.rm(path.join(root, entry.dir, 'nbd.ko'));
    const r = spawnSync(cli, ['prepare-host', '--from', root, '--kernel', '6.1.0-56-amd64', '--emit-script', path.join(tmp, 'x.sh')], { encoding: 'utf8' });
    assert.is(r.status, 3, r.stderr + r.stdout);
    assert.match(r.stdout + r.stderr, hurt === 'manifest' ? /manifest\.json: not JSON/ : /nbd\.ko: missing; rebuild it with: nbdforge build --force/);
  }
});

test('8.11 credentials in URLs are redacted', () => {
  assert.is(redact('GET http://user:secret@127.0.0.1:8080/store/index.json: HTTP 404'), 'GET http://***@127.0.0.1:8080/store/index.json: HTTP 404');
  assert.is(redact('from https://token@host/x and http://a:b@c/'), 'from https://***@host/x and http://***@c/');
  assert.is(redact('no userinfo http://host/a@b'), 'no userinfo http://host/a@b');
});

test('8.14 scratch directories: a dead owner\'s is a leftover; a live one\'s and unstamped ones are not', async () => {
  const dead = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
  // a TMPDIR of its own: a real cleanup running beside (the docker tier's) would take the dead owner's
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-test-scratch-'));
  const mk = async (name: string, stamp?: string) => {
    const d = path.join(tmp, name);
    await fs.mkdir(d, { recursive: true });
    if (stamp !== undefined) await fs.writeFile(path.join(d, '.nbdforge-owner'), stamp);
    return d;
  };
  const gone = await mk('nbdforge-6.1.0-99-amd64-Ab12Cd', `nbdforge ${dead} 12345\n`);
  const live = await mk('nbdforge-6.1.0-98-amd64-Ef34Gh', ownerStamp());
  const foreign = await mk('nbdforge-6.1.0-97-amd64-Ij56Kl');
  try {
    const found = (await leftoverScratch(tmp)).map((s) => s.path);
    assert.ok(found.includes(gone));
    assert.not.ok(found.includes(live));
    assert.not.ok(found.includes(foreign));
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
});

test('issue 16 (M2): a put whose key is another kernel\'s is refused (exit-3 error); the owner of the key stays, nothing is left behind', async () => {
  const { root, entry, a } = await freshStore();
  const other = await artifact('6.1.0-99-amd64', 'forged');
  other.manifest.key = a.manifest.key; // the "6.1.0-99" artifact reuses 6.1.0-56's build key
  const err = await rejectsWith(new DirStore(root).put(other.manifest, other.files), ArtifactRefusedError, /its build key [0-9a-f]{12} is already the key of nbd for 6\.1\.0-56-amd64 \(debian12\).*nothing stored, nothing replaced/);
  assert.is((err as ArtifactRefusedError).exitCode, 3);
  const left = await new DirStore(root).list();
  assert.equal(left, [entry]);
  assert.ok((await new DirStore(root).verify(entry)).ok);
  assert.equal(await fs.readdir(path.join(root, 'debian12')), ['6.1.0-56-amd64']);
  assert.equal(await fs.readdir(path.join(root, 'debian12', '6.1.0-56-amd64')), [path.basename(entry.dir)]);
});

test('issue 16 (M3): a put whose module\'s vermagic names another kernel than the one it is filed under is refused', async () => {
  const root = path.join(tmp, `store-${n++}`);
  const a = await artifact('6.1.0-57-amd64', 'misfiled');
  a.manifest.kernelRelease = '6.1.0-99-amd64';
  a.manifest.vermagic = '6.1.0-99-amd64 SMP preempt mod_unload modversions';
  await rejectsWith(new DirStore(root).put(a.manifest, a.files), ArtifactRefusedError, /vermagic "6\.1\.0-57-amd64 SMP preempt mod_unload modversions" is for kernel 6\.1\.0-57-amd64, but it is filed under 6\.1\.0-99-amd64/);
  assert.equal(await new DirStore(root).list(), []);
  assert.is(await fs.stat(path.join(root, 'debian12')).catch(() => null), null, 'no directory left behind');
});

test('issue 16: an index.json that is a FIFO is refused at once (no hang)', async () => {
  const root = path.join(tmp, `store-${n++}`);
  await fs.mkdir(root);
  spawnSync('mkfifo', [path.join(root, 'index.json')]);
  await rejectsWith(new DirStore(root).list(), StoreCorruptError, /index\.json: a FIFO; only regular files are read/);
});

test.run();
