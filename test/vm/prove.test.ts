/**
 * nbdforge prove for real: the newest 6.1 and the newest 6.12 kernel (6.12 ships nbd.ko.xz in its
 * own tree; the proved module stays our uncompressed nbd.ko) booted under QEMU from the catalog's
 * linux-image packages, every check of a proof passing; a re-run answered from the prove cache with
 * no boot; a module of another ABI forced into a kernel's store entry failing at insmod, exit 1, not
 * stored as proven; and `store merge` refusing a proof that is not its artifact's. Three boots in all
 * (two at once). Each test works in its own store, merged from the vm tier's shared one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fs, path, os } from 'zx';
import { newestRelease, testReleases } from '../../scripts/vm/harness.ts';
import { STORE, artifactFor, cli } from './helpers.ts';
import { resolvePaths } from '../../src/paths.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { readStoredProof } from '../../src/artifacts/proof-record.ts';
import { sha256 } from '../../src/util/hash.ts';
import { CHECKS } from '../../src/prove/verdict.ts';

let tmp = '';
let r61 = '';
let r612 = '';
let older = '';
const cacheRoot = resolvePaths(process.env).cache;

interface Json {
  ok: boolean;
  wallMs: number;
  counts: Record<string, number>;
  kernels: Array<{ kernelRelease: string; status: string; bootMs: number; reason?: string; checks?: Array<{ name: string; ok: boolean; detail: string }>; kernelPackage?: { name: string; version: string; sha256: string } }>;
}
const json = (out: string): Json => JSON.parse(out.slice(out.indexOf('{\n')));

/** A store of our own with the shared vm store's artifacts (no proofs: those come from the runs here). */
async function ownStore(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  const r = await cli('store', 'merge', STORE, '--into', dir);
  assert.is(r.code, 0, r.out);
  return dir;
}

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-prove-'));
  r612 = await newestRelease('6.12');
  ({ newest: r61, older } = await testReleases());
  for (const r of [r61, r612, older]) await artifactFor(r);
});
test.after(() => fs.remove(tmp));

test('prove: the newest 6.1 and 6.12 kernels, every check passing; proof.json in the store; a re-run is a cache hit with no boot', async () => {
  const store = await ownStore('proven');
  const r = await cli('prove', '--store', store, '--kernels', `${r61},${r612}`, '--jobs', '2', '--force', '--json');
  assert.is(r.code, 0, r.out);
  const res = json(r.out);
  assert.equal(res.counts, { proven: 2, cached: 0, failed: 0, unproven: 0 });
  const catalog = JSON.parse(await fs.readFile(path.join(cacheRoot, 'debian12', 'catalog.json'), 'utf8')) as { kernels: Array<{ kernelRelease: string; files: Array<{ role: string; name: string; version: string; sha256: string }> }> };
  for (const k of res.kernels) {
    assert.equal(k.checks!.map((c) => [c.name, c.ok]), CHECKS.map((n) => [n, true]), `${k.kernelRelease}: ${JSON.stringify(k.checks)}`);
    assert.ok(k.bootMs > 0, 'a real boot');
    // the kernel booted is the catalog's image package, pinned by its sha256
    const image = catalog.kernels.find((c) => c.kernelRelease === k.kernelRelease)!.files.find((f) => f.role === 'image')!;
    assert.equal(k.kernelPackage, { name: image.name, version: image.version, sha256: image.sha256 });
    const s = new DirStore(store);
    const [entry] = await s.list({ kernelRelease: k.kernelRelease, module: 'nbd' });
    const stored = await readStoredProof(store, entry);
    assert.ok(stored, `${k.kernelRelease}: proof.json in the store`);
    assert.is(stored.proof.module.sha256, sha256(await fs.readFile(s.artifactPath(entry))), 'the proof names the exact stored bytes');
    assert.is(stored.proof.module.file, 'nbd.ko');
    assert.ok(stored.proof.dmesg.some((l) => /nbd0: p1/.test(l)), `${k.kernelRelease}: the partition scan in the kernel log: ${stored.proof.dmesg.join(' | ')}`);
    assert.match(stored.proof.taint, /^\d+ \(/);
    assert.is(stored.proof.signature, 'unsigned');
    if (k.kernelRelease === r612) {
      // the guest booted 6.12's own tree: its modules .ko.xz, its own nbd.ko.xz taken out
      const tree = path.join(cacheRoot, 'debian12', 'derived', `boot-${image.sha256}`, 'lib', 'modules', r612, 'kernel', 'drivers', 'block');
      const files: string[] = await fs.readdir(tree);
      assert.ok(files.some((f) => f.endsWith('.ko.xz')), `6.12's block drivers are .ko.xz: ${files.join(' ')}`);
      assert.not.ok(files.some((f) => f.startsWith('nbd.ko')), 'its own nbd is removed');
    }
  }
  // the re-run: every proof already in the store, no guest, under a second of work
  const rerun = await cli('prove', '--store', store, '--kernels', `${r61},${r612}`, '--json');
  assert.is(rerun.code, 0, rerun.out);
  const rr = json(rerun.out);
  assert.equal(rr.kernels.map((k) => [k.status, k.bootMs]), [['cached', 0], ['cached', 0]]);
  assert.ok(rr.wallMs < 1000, `a re-run of cached proofs costs under 1 s of work, took ${rr.wallMs} ms`);
  // the same bytes in a store that has no proof yet: answered from the prove cache (key: module + kernel package + proof version), no guest
  const fresh = await ownStore('fresh');
  const again = await cli('prove', '--store', fresh, '--kernels', `${r61},${r612}`, '--json');
  assert.is(again.code, 0, again.out);
  assert.equal(json(again.out).kernels.map((k) => [k.status, k.bootMs]), [['cached', 0], ['cached', 0]]);
  for (const k of [r61, r612]) assert.ok(await readStoredProof(fresh, (await new DirStore(fresh).list({ kernelRelease: k }))[0]), `${k}: the cached proof was stored`);
  // matrix --prove over the same kernels: builds and proofs all cache hits
  const mx = await cli('matrix', '--store', fresh, '--kernels', `${r61},${r612}`, '--prove', '--json');
  assert.is(mx.code, 0, mx.out);
  const mj = JSON.parse(mx.out.slice(mx.out.indexOf('{\n'))) as { counts: Record<string, number>; proofs: Json };
  assert.is(mj.counts.cached, 2);
  assert.equal(mj.proofs.counts, { proven: 0, cached: 2, failed: 0, unproven: 0 });
  const listed = await cli('kernels', '--store', fresh, '--json');
  const states = (JSON.parse(listed.out).kernels as Array<{ kernelRelease: string; built: boolean; verified: boolean; proven: boolean }>).filter((k) => [r61, r612, older].includes(k.kernelRelease));
  assert.equal(states.map((k) => [k.kernelRelease, k.built, k.verified, k.proven]).sort(), [[r61, true, true, true], [r612, true, true, true], [older, true, true, false]].sort());

  // store merge: a proof moved onto another artifact (its manifest updated to name it) is refused
  const bad = await ownStore('bad');
  const s = new DirStore(fresh);
  const from = (await s.list({ kernelRelease: r61 }))[0];
  const b = new DirStore(bad);
  const onto = (await b.list({ kernelRelease: r612 }))[0];
  const proofBytes = await fs.readFile(s.artifactPath(from, 'proof.json'));
  await fs.writeFile(b.artifactPath(onto, 'proof.json'), proofBytes);
  const m = JSON.parse(await fs.readFile(b.artifactPath(onto, 'manifest.json'), 'utf8'));
  await fs.writeFile(b.artifactPath(onto, 'manifest.json'), JSON.stringify({ ...m, proof: { file: 'proof.json', sha256: sha256(proofBytes) } }));
  const merged = await cli('store', 'merge', bad, '--into', path.join(tmp, 'merged'));
  assert.is(merged.code, 1, merged.out);
  assert.match(merged.out, new RegExp(`refused +debian12/${r612.replace(/[.+]/g, '\\$&')} .*not this module's proof`));
});

test('prove: a module of another ABI forced into a kernel\'s store entry fails at insmod, exit 1, nothing stored as proven', async () => {
  const store = await ownStore('forced');
  const s = new DirStore(store);
  const victim = (await s.list({ kernelRelease: r61 }))[0];
  const donor = (await s.list({ kernelRelease: older }))[0];
  const bytes = await fs.readFile(s.artifactPath(donor));
  const sum = sha256(bytes);
  // forced past the store's own checks: bytes, manifest and index all name the other ABI's module
  await fs.writeFile(s.artifactPath(victim), bytes);
  const mf = s.artifactPath(victim, 'manifest.json');
  await fs.writeFile(mf, JSON.stringify({ ...JSON.parse(await fs.readFile(mf, 'utf8')), sha256: sum, size: bytes.length }));
  const idx = JSON.parse(await fs.readFile(s.indexFile, 'utf8'));
  for (const a of idx.artifacts) if (a.key === victim.key) a.sha256 = sum;
  await fs.writeFile(s.indexFile, JSON.stringify(idx));

  const r = await cli('prove', '--store', store, '--kernels', r61, '--json');
  assert.is(r.code, 1, r.out);
  const [k] = json(r.out).kernels;
  assert.is(k.status, 'failed');
  const insmod = k.checks!.find((c) => c.name === 'insmod')!;
  assert.not.ok(insmod.ok);
  assert.match(insmod.detail, /disagrees about version|Invalid|Exec format|Unknown symbol/, insmod.detail);
  assert.match(k.reason!, /^insmod: /);
  assert.ok(k.checks!.filter((c) => c.name !== 'boot' && c.name !== 'insmod' && c.name !== 'dmesg-clean').every((c) => !c.ok && /^not run: insmod failed/.test(c.detail)));
  assert.is(await readStoredProof(store, (await s.list({ kernelRelease: r61 }))[0]), undefined, 'no proof stored');
  assert.not.ok(await fs.pathExists(s.artifactPath(victim, 'proof.json')));
  // the progress lines on stderr name the failed check too
  assert.match(r.out, new RegExp(`${r61.replace(/[.+]/g, '\\$&')} +FAILED: insmod: `));
});

test.run();
