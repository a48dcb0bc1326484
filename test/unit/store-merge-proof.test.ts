/**
 * store merge carries proofs: with a new artifact, and onto the same artifact the target holds
 * without one, byte for byte; and refuses an artifact whose proof is not its own or does not hash
 * to what its manifest names, leaving the target as it was. (Records from test/fixtures/proof.ts:
 * a made-up proof of a real stored module; the real proofs are test/vm/prove.test.ts's.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { putModule } from './publish-fixtures.ts';
import { proveStoreFixture } from '../fixtures/proof.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { mergeStores } from '../../src/artifacts/store-merge.ts';
import { readStoredProof } from '../../src/artifacts/proof-record.ts';
import { sha256 } from '../../src/util/hash.ts';

let tmp = '';
test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-merge-proof-'));
});
test.after(() => fs.rm(tmp, { recursive: true, force: true }));

async function storeOf(name: string, releases: string[], proven: string[]): Promise<string> {
  const dir = path.join(tmp, name);
  for (const r of releases) await putModule(dir, r);
  await proveStoreFixture(dir, (r) => proven.includes(r));
  return dir;
}
const proofBytes = async (store: string, release: string) => (await readStoredProof(store, (await new DirStore(store).list({ kernelRelease: release }))[0]))?.bytes;

test('a proof comes along with its artifact, and onto the same artifact held without one, byte for byte', async () => {
  const src = await storeOf('src', ['6.1.0-56-amd64', '6.1.0-57-amd64'], []);
  const held = path.join(tmp, 'held');
  await mergeStores([src], new DirStore(held)); // the target holds both, unproven
  await proveStoreFixture(src);
  const fresh = path.join(tmp, 'fresh');
  const added = await mergeStores([src], new DirStore(fresh));
  assert.equal(added.map((x) => [x.kernelRelease, x.status]), [['6.1.0-56-amd64', 'added'], ['6.1.0-57-amd64', 'added']]);
  const carried = await mergeStores([src], new DirStore(held));
  assert.equal(carried.map((x) => [x.status, x.detail]), [['same', 'its proof added'], ['same', 'its proof added']]);
  for (const k of ['6.1.0-56-amd64', '6.1.0-57-amd64']) {
    assert.ok(await proofBytes(src, k), k);
    assert.equal(await proofBytes(fresh, k), await proofBytes(src, k), k);
    assert.equal(await proofBytes(held, k), await proofBytes(src, k), k);
  }
  // again: nothing to carry
  const again = await mergeStores([src], new DirStore(held));
  assert.equal(again.map((x) => [x.status, x.detail]), [['same', undefined], ['same', undefined]]);
});

test('a proof that is not its artifact\'s, or does not hash to its manifest, refuses the artifact; the target is untouched', async () => {
  const src = await storeOf('bad', ['6.1.0-56-amd64', '6.1.0-57-amd64'], ['6.1.0-56-amd64', '6.1.0-57-amd64']);
  const s = new DirStore(src);
  const [e56] = await s.list({ kernelRelease: '6.1.0-56-amd64' });
  const [e57] = await s.list({ kernelRelease: '6.1.0-57-amd64' });
  // 57's proof moved onto 56, its manifest updated to name it (a consistent forgery)
  const moved = await fs.readFile(s.artifactPath(e57, 'proof.json'));
  await fs.writeFile(s.artifactPath(e56, 'proof.json'), moved);
  const mf = s.artifactPath(e56, 'manifest.json');
  await fs.writeFile(mf, JSON.stringify({ ...JSON.parse(await fs.readFile(mf, 'utf8')), proof: { file: 'proof.json', sha256: sha256(moved) } }));
  // 57's proof edited after the manifest named it
  await fs.appendFile(s.artifactPath(e57, 'proof.json'), ' ');
  const into = path.join(tmp, 'into-bad');
  const r = await mergeStores([src], new DirStore(into));
  assert.equal(r.map((x) => x.status), ['refused', 'refused']);
  assert.match(r[0].detail!, /^proof: .*not this module's proof/);
  assert.match(r[1].detail!, /^proof: .*the manifest says .* \(damaged or edited\)/);
  assert.equal(await new DirStore(into).list(), []);
});

test.run();
