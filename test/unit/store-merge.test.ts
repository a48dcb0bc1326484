/** Issue 12.5: merging stores built apart. Artifacts are verified before they are taken. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { LockTimeoutError, ownerStamp } from '../../src/util/file-lock.ts';
import type { Manifest } from '../../src/artifacts/manifest.ts';
import { mergeStores } from '../../src/artifacts/store-merge.ts';
import { buildModule } from './fixtures-elf.ts';

const sha = (d: string | Uint8Array) => createHash('sha256').update(d).digest('hex');
let tmp = '';
let n = 0;
test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-merge-'));
});
test.after(() => fs.rm(tmp, { recursive: true, force: true }));

// One build per (kernel, tag): the same key is the same bytes, as a reproducible build gives
// (gcc here embeds its temporary directory, so two compiles of one source differ).
const built = new Map<string, Uint8Array>();
const moduleFor = (kernelRelease: string, tag: string) => {
  const id = `${kernelRelease} ${tag}`;
  if (!built.has(id)) built.set(id, buildModule({ vermagic: `${kernelRelease} SMP preempt mod_unload modversions `, greeting: tag }).bytes);
  return built.get(id)!;
};

async function put(root: string, kernelRelease: string, tag: string, createdAt: string, opts: { key?: string; ko?: Uint8Array } = {}) {
  const src = path.join(tmp, `src-${n++}`);
  await fs.mkdir(src);
  const ko = opts.ko ?? moduleFor(kernelRelease, tag);
  await fs.writeFile(path.join(src, 'nbd.ko'), ko);
  await fs.writeFile(path.join(src, 'nbd.ko.debug'), 'd');
  const m: Manifest = {
    schema: 1, key: opts.key ?? sha(`${kernelRelease} ${tag}`), family: 'debian12', kernelRelease, module: 'nbd', file: 'nbd.ko', debugFile: 'nbd.ko.debug',
    sha256: sha(ko), size: ko.length, debugSha256: sha('d'), vermagic: `${kernelRelease} SMP preempt mod_unload modversions`,
    checks: [{ name: 'vermagic', ok: true, detail: 'ok' }], inputs: {}, builderImage: 'sha256:' + sha('i'), compiler: 'gcc-12',
    durationMs: 1, tool: { name: 'nbdforge', version: '0.1.0' }, createdAt,
  };
  return new DirStore(root).put(m, { module: path.join(src, 'nbd.ko'), debug: path.join(src, 'nbd.ko.debug') });
}

test('two shard stores merge into one holding every key once; damaged artifacts are refused; newer builds win', async () => {
  const a = path.join(tmp, 'shard-a');
  const b = path.join(tmp, 'shard-b');
  const into = path.join(tmp, 'merged');
  const t = (d: number) => new Date(Date.UTC(2026, 0, d)).toISOString();
  await put(a, '6.1.0-47-amd64', 'x', t(1));
  await put(a, '6.1.0-50-amd64', 'x', t(1));
  await put(b, '6.1.0-56-amd64', 'x', t(1));
  const same = await put(b, '6.1.0-47-amd64', 'x', t(1)); // the same key built twice
  const damaged = await put(b, '6.1.0-55-amd64', 'x', t(1));
  await fs.appendFile(new DirStore(b).artifactPath(damaged), 'tampered');
  await put(into, '6.1.0-50-amd64', 'newer', t(5)); // the target already has a newer build of 50
  const r = await mergeStores([a, b], new DirStore(into));
  const by = (k: string, src: string) => r.find((x) => x.kernelRelease === k && x.source === src)!.status;
  assert.is(by('6.1.0-47-amd64', a), 'added');
  assert.is(by('6.1.0-47-amd64', b), 'same');
  assert.is(by('6.1.0-50-amd64', a), 'older');
  assert.is(by('6.1.0-56-amd64', b), 'added');
  assert.is(by('6.1.0-55-amd64', b), 'refused');
  const idx = await new DirStore(into).list();
  assert.equal(idx.map((e) => e.kernelRelease), ['6.1.0-47-amd64', '6.1.0-50-amd64', '6.1.0-56-amd64']);
  assert.is(idx[0].key, same.key);
  assert.is(idx[1].key, sha('6.1.0-50-amd64 newer'));
  for (const e of idx) assert.ok((await new DirStore(into).verify(e)).ok);
});

test('nbdforge store merge: exit 1 when an artifact is refused, 3 for a corrupt source, 2 for usage', async () => {
  const cli = path.resolve('bin/nbdforge.js');
  const into = path.join(tmp, 'cli-into');
  const r = spawnSync(cli, ['store', 'merge', path.join(tmp, 'shard-b'), '--into', into, '--json'], { encoding: 'utf8' });
  assert.is(r.status, 1, r.stderr);
  assert.equal(JSON.parse(r.stdout).counts, { added: 2, same: 0, older: 0, refused: 1 });
  const bad = path.join(tmp, 'corrupt');
  await fs.mkdir(bad);
  await fs.writeFile(path.join(bad, 'index.json'), '<html>');
  const c = spawnSync(cli, ['store', 'merge', bad, '--into', into], { encoding: 'utf8' });
  assert.is(c.status, 3, c.stderr);
  assert.match(c.stderr, /index\.json: not JSON/);
  // a mistyped source (missing) or a file is not a store: exit 3 before anything is merged, even from the good source
  const before = await fs.readFile(path.join(into, 'index.json'), 'utf8');
  for (const wrong of [path.join(tmp, 'no-such-shard'), path.join(bad, 'index.json')]) {
    const w = spawnSync(cli, ['store', 'merge', path.join(tmp, 'shard-a'), wrong, '--into', into], { encoding: 'utf8' });
    assert.is(w.status, 3, w.stderr);
    assert.match(w.stderr, /not a store \((no such directory|not a directory)\); nothing merged/);
    assert.is(await fs.readFile(path.join(into, 'index.json'), 'utf8'), before);
  }
  assert.is(spawnSync(cli, ['store', 'merge'], { encoding: 'utf8' }).status, 2);
  assert.is(spawnSync(cli, ['store', 'split', 'x'], { encoding: 'utf8' }).status, 2);
});

const cli = path.resolve('bin/nbdforge.js');
const merge = (args: string[]) => spawnSync(cli, ['store', 'merge', ...args], { encoding: 'utf8', timeout: 20_000 });
/** Every artifact directory and stray temporary under a store (what a refusal must not leave). */
async function artifactDirs(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const f of await fs.readdir(root).catch(() => []))
    for (const k of await fs.readdir(path.join(root, f)).catch(() => []))
      for (const d of await fs.readdir(path.join(root, f, k)).catch(() => [])) out.push(`${f}/${k}/${d}`);
  return out.sort();
}
/** A store holding one artifact whose module file is then replaced by `plant` (a link, a FIFO). */
async function planted(name: string, plant: (ko: string) => Promise<void>, manifest: { sha256?: string; size?: number } = {}) {
  const root = path.join(tmp, name);
  const e = await put(root, '6.1.0-56-amd64', name, new Date(0).toISOString());
  const store = new DirStore(root);
  const mfile = store.artifactPath(e, 'manifest.json');
  const m = JSON.parse(await fs.readFile(mfile, 'utf8'));
  Object.assign(m, manifest);
  await fs.writeFile(mfile, JSON.stringify(m));
  if (manifest.sha256) {
    const idx = JSON.parse(await fs.readFile(path.join(root, 'index.json'), 'utf8'));
    idx.artifacts[0].sha256 = manifest.sha256;
    await fs.writeFile(path.join(root, 'index.json'), JSON.stringify(idx));
  }
  await fs.rm(store.artifactPath(e));
  await plant(store.artifactPath(e));
  return root;
}

test('issue 16: merge from a source whose nbd.ko is a symlink to /dev/zero or a FIFO is refused at once, nothing taken', async () => {
  const zero = await planted('zero', (ko) => fs.symlink('/dev/zero', ko), { size: 1 << 30 });
  const fifo = await planted('fifo', async (ko) => void spawnSync('mkfifo', [ko]));
  const dev = await planted('chardev', (ko) => fs.symlink('/dev/null', path.join(path.dirname(ko), 'x')).then(() => fs.rename(path.join(path.dirname(ko), 'x'), ko)));
  const into = path.join(tmp, 'into-special');
  const t0 = Date.now();
  const r = merge([zero, fifo, dev, '--into', into, '--json']);
  assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
  assert.is(r.error, undefined, 'no hang');
  assert.is(r.status, 1, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.equal(res.counts, { added: 0, same: 0, older: 0, refused: 3 });
  assert.match(res.results[0].detail, /nbd\.ko: a symlink; only regular files are read/);
  assert.match(res.results[1].detail, /nbd\.ko: a FIFO; only regular files are read/);
  assert.equal(await artifactDirs(into), []);
});

test('issue 16: a symlinked nbd.ko pointing at a secret is refused, nothing of it copied or printed (hash digits included)', async () => {
  const secret = path.join(tmp, 'shadow');
  const text = 'root:$6$SECRETSALT$verysecrethashvalue:19000:0:99999:7:::\n';
  await fs.writeFile(secret, text, { mode: 0o600 });
  const h = sha(text);
  // with the manifest naming the secret's own sha256 and size, and with a wrong one
  const matching = await planted('secret-match', (ko) => fs.symlink(secret, ko), { sha256: h, size: text.length });
  const mismatching = await planted('secret-mismatch', (ko) => fs.symlink(secret, ko));
  // the artifact directory itself a symlink to a directory holding the secret as nbd.ko
  const elsewhere = path.join(tmp, 'elsewhere');
  await fs.mkdir(elsewhere);
  const linkedDir = await planted('secret-dir', async (ko) => {
    await fs.copyFile(secret, path.join(elsewhere, 'nbd.ko'));
    for (const f of ['manifest.json', 'nbd.ko.debug']) await fs.copyFile(path.join(path.dirname(ko), f), path.join(elsewhere, f));
    await fs.rm(path.dirname(ko), { recursive: true });
    await fs.symlink(elsewhere, path.dirname(ko));
  }, { sha256: h, size: text.length });
  const into = path.join(tmp, 'into-secret');
  const r = merge([matching, mismatching, linkedDir, '--into', into]);
  assert.is(r.status, 1, r.stderr);
  const printed = r.stdout + r.stderr;
  assert.match(printed, /0 added, 0 already there, 0 older than the target's, 3 refused/);
  assert.match(printed, /a symlink; only regular files are read/);
  assert.match(printed, /reached through a symlink/);
  assert.not.ok(printed.includes('SECRET') || printed.includes('verysecret'), printed);
  for (let i = 0; i + 8 <= 64; i++) assert.not.ok(printed.includes(h.slice(i, i + 8)), `printed digits of the secret's hash: ${printed}`);
  assert.equal(await artifactDirs(into), []);
  const all = spawnSync('grep', ['-rl', 'SECRETSALT', into], { encoding: 'utf8' });
  assert.is(all.stdout, '', 'no copy of the secret in the target');
  // a source whose index.json (or an artifact's manifest.json) is the secret: refused, not quoted
  const idxSecret = path.join(tmp, 'secret-index');
  await fs.mkdir(idxSecret);
  await fs.symlink(secret, path.join(idxSecret, 'index.json'));
  const mSecret = await planted('secret-manifest', async () => {});
  const e = (await new DirStore(mSecret).list())[0];
  await fs.rm(new DirStore(mSecret).artifactPath(e, 'manifest.json'));
  await fs.copyFile(secret, new DirStore(mSecret).artifactPath(e, 'manifest.json'));
  for (const src of [idxSecret, mSecret]) {
    const q = merge([src, '--into', into]);
    assert.ok(q.status === 3 || q.status === 1, q.stderr);
    assert.match(q.stdout + q.stderr, /not JSON/);
    assert.not.ok((q.stdout + q.stderr).includes('root:') || (q.stdout + q.stderr).includes('SECRET'), q.stdout + q.stderr);
  }
});

test('issue 16: the same key with different bytes in two sources is refused from both, naming both, whatever the order', async () => {
  const t = new Date(Date.UTC(2026, 0, 1)).toISOString();
  const a = path.join(tmp, 'dup-a');
  const b = path.join(tmp, 'dup-b');
  const key = sha('one key');
  await put(a, '6.1.0-56-amd64', 'first bytes', t, { key });
  await put(b, '6.1.0-56-amd64', 'other bytes', t, { key });
  for (const order of [[a, b], [b, a]]) {
    const into = path.join(tmp, `dup-into-${order[0] === a ? 'ab' : 'ba'}`);
    const r = await mergeStores(order, new DirStore(into));
    assert.equal(r.map((x) => x.status), ['refused', 'refused']);
    assert.match(r[0].detail!, new RegExp(`key ${key.slice(0, 12)} names other bytes there .* in ${order[1]}: .*refused from ${order[0]}`));
    assert.match(r[1].detail!, new RegExp(`in ${order[0]}: .*refused from ${order[1]}`));
    assert.equal(await new DirStore(into).list(), []);
  }
  // and against the target: the target's artifact stays, the source's other bytes are refused
  const into = path.join(tmp, 'dup-target');
  await put(into, '6.1.0-56-amd64', 'first bytes', t, { key });
  const r = await mergeStores([b], new DirStore(into));
  assert.is(r[0].status, 'refused');
  assert.match(r[0].detail!, new RegExp(`in the target ${into}`));
  assert.is((await new DirStore(into).list())[0].sha256, sha(moduleFor('6.1.0-56-amd64', 'first bytes')));
});

test('issue 16: one key, one kernel: a source filing 6.1.0-50\'s key under 6.1.0-99 does not delete the target\'s 6.1.0-50', async () => {
  const t = (d: number) => new Date(Date.UTC(2026, 0, d)).toISOString();
  const into = path.join(tmp, 'collide-into');
  const fifty = await put(into, '6.1.0-50-amd64', 'x', t(1));
  const src = path.join(tmp, 'collide-src');
  await put(src, '6.1.0-99-amd64', 'x', t(9), { key: fifty.key });
  const r = await mergeStores([src], new DirStore(into));
  assert.is(r[0].status, 'refused');
  assert.match(r[0].detail!, /is filed there as nbd for 6\.1\.0-50-amd64 \(debian12\)|names other bytes there \(nbd for 6\.1\.0-50-amd64/);
  const left = await new DirStore(into).list();
  assert.equal(left.map((e) => e.kernelRelease), ['6.1.0-50-amd64']);
  assert.ok((await new DirStore(into).verify(left[0])).ok);
});

test('issue 16: a module whose vermagic names 6.1.0-57 filed under 6.1.0-99 is refused by merge', async () => {
  const src = path.join(tmp, 'misfiled');
  const ko57 = moduleFor('6.1.0-57-amd64', 'x');
  // put() refuses it too, so the source is written as a hand-edited store would be
  const e = await put(src, '6.1.0-99-amd64', 'x', new Date(0).toISOString());
  const store = new DirStore(src);
  await fs.writeFile(store.artifactPath(e), ko57);
  const mfile = store.artifactPath(e, 'manifest.json');
  const m = JSON.parse(await fs.readFile(mfile, 'utf8'));
  Object.assign(m, { sha256: sha(ko57), size: ko57.length });
  await fs.writeFile(mfile, JSON.stringify(m));
  const idx = JSON.parse(await fs.readFile(path.join(src, 'index.json'), 'utf8'));
  idx.artifacts[0].sha256 = sha(ko57);
  await fs.writeFile(path.join(src, 'index.json'), JSON.stringify(idx));
  const into = path.join(tmp, 'misfiled-into');
  const r = await mergeStores([src], new DirStore(into));
  assert.is(r[0].status, 'refused');
  assert.match(r[0].detail!, /vermagic "6\.1\.0-57-amd64 SMP preempt mod_unload modversions" is for kernel 6\.1\.0-57-amd64, but it is filed under 6\.1\.0-99-amd64/);
  assert.equal(await artifactDirs(into), []);
});

test('issue 16: a merge that times out on the target\'s lock leaves no unindexed artifact directory behind', async () => {
  const src = path.join(tmp, 'lock-src');
  await put(src, '6.1.0-56-amd64', 'lock', new Date(0).toISOString());
  const into = path.join(tmp, 'lock-into');
  await fs.mkdir(into, { recursive: true });
  await fs.writeFile(path.join(into, 'index.json.lock'), ownerStamp(process.pid));
  const err = await mergeStores([src], new DirStore(into, { lockTimeoutMs: 300 })).catch((e: Error) => e);
  assert.instance(err, LockTimeoutError);
  assert.equal(await artifactDirs(into), []);
  await fs.rm(path.join(into, 'index.json.lock'));
});

test.run();
