import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { parseManifest, ManifestError } from '../../src/artifacts/manifest.ts';
import {
  PROOF_FILE, PROOF_VERSION, MAX_PROOF_BYTES, ProofError, type ProofRecord,
  checkProofFor, parseProof, proofKey, proofLabel, proofLine, readStoredProof, writeStoredProof,
} from '../../src/artifacts/proof-record.ts';
import { putModule, sha } from './publish-fixtures.ts';
import { fixtureProof } from '../fixtures/proof.ts';

const KR = '6.1.0-57-amd64';
const MOD = sha('module bytes');
let tmp: string;

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-prove-record-'));
});
test.after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const valid = (over: Partial<ProofRecord> = {}) => fixtureProof({ family: 'debian12', kernelRelease: KR, sha256: MOD }, over);
const text = (v: unknown) => JSON.stringify(v);

/** The promise must reject, and the error satisfy `ok` when given. */
async function rejects(fn: () => Promise<unknown>, ok: (e: Error) => boolean = () => true) {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof Error, 'expected a rejection');
  assert.ok(ok(caught as Error), `unexpected error: ${(caught as Error).message}`);
}

/** parseProof must throw a ProofError naming `where` and `field`, and never echo the planted text. */
function refuses(mutate: (p: Record<string, unknown>) => void, field: string) {
  const p = JSON.parse(text(valid())) as Record<string, unknown>;
  mutate(p);
  let caught: unknown;
  try {
    parseProof(text(p), 'site/proof.json');
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ProofError, `expected ProofError for ${field}, got ${String(caught)}`);
  const msg = (caught as Error).message;
  assert.ok(msg.startsWith('site/proof.json: '), msg);
  assert.ok(msg.includes(`field "${field}"`), `should name ${field}: ${msg}`);
  assert.not.ok(msg.includes('SECRET'), msg);
  assert.is((caught as ProofError).exitCode, 3);
}

test('a valid record parses to an equal fresh object; the key is sha256 of module, kernel package and version', () => {
  const p = valid();
  const got = parseProof(JSON.stringify(p, null, 2), 'x');
  assert.equal(got, p);
  assert.is(p.key, sha(`${MOD}\n${p.kernelPackage.sha256}\n${PROOF_VERSION}`));
  assert.is(proofKey(MOD, p.kernelPackage.sha256), p.key);
  assert.is.not(proofKey(MOD, p.kernelPackage.sha256, PROOF_VERSION + 1), p.key);
  assert.is(PROOF_FILE, 'proof.json');
});

test('wrong types are refused, naming the field', () => {
  refuses((p) => (p.schema = 2), 'schema');
  refuses((p) => (p.proofVersion = '1'), 'proofVersion');
  refuses((p) => (p.proofVersion = 1.5), 'proofVersion');
  refuses((p) => (p.verdict = 'probably'), 'verdict');
  refuses((p) => (p.family = '../etc'), 'family');
  refuses((p) => (p.kernelRelease = 42), 'kernelRelease');
  refuses((p) => (p.kernelPackage = 'linux-image'), 'kernelPackage');
  refuses((p) => ((p.kernelPackage as Record<string, unknown>).name = 'a b SECRET'), 'kernelPackage.name');
  refuses((p) => ((p.module as Record<string, unknown>).file = '../../nbd.ko'), 'module.file');
  refuses((p) => ((p.qemu as Record<string, unknown>).accel = 'hvf'), 'qemu.accel');
  refuses((p) => (p.checks = []), 'checks');
  refuses((p) => ((p.checks as Record<string, unknown>[])[1].ok = 'yes'), 'checks[1].ok');
  refuses((p) => ((p.checks as Record<string, unknown>[])[0].ms = -1), 'checks[0].ms');
  refuses((p) => ((p.checks as Record<string, unknown>[])[0].detail = 'a\x1b[2JSECRET'), 'checks[0].detail');
  refuses((p) => (p.dmesg = 'nbd'), 'dmesg');
  refuses((p) => (p.dmesg = ['ok', 7]), 'dmesg[1]');
  refuses((p) => (p.taint = ''), 'taint');
  refuses((p) => (p.signature = 'x\u202eSECRET'), 'signature');
  refuses((p) => (p.date = 'yesterday SECRET'), 'date');
  refuses((p) => (p.date = '2026-13-45T99:00:00Z'), 'date');
  refuses((p) => (p.nbdforge = 'v 1; rm -rf /'), 'nbdforge');
  refuses((p) => (p.SECRET = true), '(root)');
  refuses((p) => ((p.module as Record<string, unknown>).extra = 1), 'module');
});

test('bad hex and a key that does not match are refused', () => {
  refuses((p) => (p.key = 'A'.repeat(64)), 'key');
  refuses((p) => ((p.module as Record<string, unknown>).sha256 = sha('x').slice(1)), 'module.sha256');
  refuses((p) => ((p.kernelPackage as Record<string, unknown>).sha256 = 'g'.repeat(64)), 'kernelPackage.sha256');
  // A proof whose module was swapped after it was made: the key no longer matches.
  refuses((p) => ((p.module as Record<string, unknown>).sha256 = sha('other module')), 'key');
  refuses((p) => (p.proofVersion = 2), 'key');
  // "proven" with a failed check is a contradiction
  refuses((p) => ((p.checks as Record<string, unknown>[])[2].ok = false), 'verdict');
});

test('huge arrays, long lines and oversized text are refused', () => {
  refuses((p) => (p.dmesg = Array.from({ length: 201 }, () => 'nbd')), 'dmesg');
  refuses((p) => (p.dmesg = ['x'.repeat(513)]), 'dmesg[0]');
  refuses((p) => (p.checks = Array.from({ length: 65 }, (_, i) => ({ name: `c${i}`, ok: true, detail: '', ms: 1 }))), 'checks');
  assert.throws(() => parseProof(' '.repeat(MAX_PROOF_BYTES + 1), 'big'), (e: Error) => e instanceof ProofError && /^big: more than/.test(e.message));
  assert.throws(() => parseProof('{"schema": 1, "SECRET', 'trunc'), (e: Error) => e instanceof ProofError && /^trunc: not JSON/.test(e.message) && !e.message.includes('SECRET'));
  assert.throws(() => parseProof('', 'empty'), (e: Error) => e instanceof ProofError && /empty file/.test(e.message));
  for (const v of ['null', '[]', '"proof"', '7']) assert.throws(() => parseProof(v, 'r'), (e: Error) => e instanceof ProofError && /field "\(root\)"/.test(e.message));
});

test('checkProofFor: only a proven record of these bytes in this kernel passes', () => {
  const art = { kernelRelease: KR, sha256: MOD, family: 'debian12' };
  checkProofFor(valid(), art, 'a');
  const failed = valid({ verdict: 'failed', checks: [{ name: 'insmod', ok: false, detail: 'Invalid module format', ms: 3 }] });
  assert.throws(() => checkProofFor(failed, art, 'a'), (e: Error) => e instanceof ProofError && /"failed" \(check insmod failed\)/.test(e.message));
  assert.throws(() => checkProofFor(valid(), { ...art, sha256: sha('other') }, 'a'), (e: Error) => /not this module's proof/.test(e.message));
  assert.throws(() => checkProofFor(valid(), { ...art, kernelRelease: '6.1.0-56-amd64' }, 'a'), (e: Error) => /for kernel 6\.1\.0-57-amd64, the artifact is for 6\.1\.0-56-amd64/.test(e.message));
  assert.throws(() => checkProofFor(valid(), { ...art, family: 'el7' }, 'a'), (e: Error) => /family/.test(e.message));
});

test('proofLine and proofLabel are one line each', () => {
  const p = valid();
  assert.is(proofLine(p), `proven in ${KR} on 2026-12-01 (QEMU 7.2.0-fixture, tcg, 3 checks)`);
  assert.is(proofLabel(p), `proven in ${KR} on 2026-12-01 key ${p.key.slice(0, 12)}`);
  assert.match(proofLine(valid({ verdict: 'failed', checks: [{ name: 'boot', ok: false, detail: '', ms: 1 }] })), /^FAILED \(boot\) in /);
});

test('the manifest accepts a proof field and validates it', () => {
  const m = { schema: 1, key: sha('k'), family: 'debian12', kernelRelease: KR, module: 'nbd', file: 'nbd.ko', debugFile: 'nbd.ko.debug', sha256: MOD, size: 1, debugSha256: sha('d'),
    vermagic: KR, checks: [{ name: 'vermagic', ok: true, detail: '' }], inputs: {}, builderImage: 'i', compiler: 'gcc', durationMs: 1, tool: { name: 'nbdforge', version: '0' }, createdAt: 'now' };
  assert.equal(parseManifest({ ...m, proof: { file: 'proof.json', sha256: sha('p') } }).proof, { file: 'proof.json', sha256: sha('p') });
  assert.is(parseManifest(m).proof, undefined);
  for (const [proof, field] of [[{ file: '../x', sha256: sha('p') }, 'proof.file'], [{ file: 'proof.json', sha256: 'zz' }, 'proof.sha256'], ['proof.json', 'proof'], [{ file: 'proof.json', sha256: sha('p'), x: 1 }, 'proof']] as const)
    assert.throws(() => parseManifest({ ...m, proof }, 'm'), (e: Error) => e instanceof ManifestError && e.message.includes(`field "${field}"`));
});

async function storeWithModule(name: string) {
  const root = path.join(tmp, name);
  const m = await putModule(root, KR);
  const [entry] = await new DirStore(root).list();
  return { root, m, entry, dir: path.join(root, entry.dir) };
}

test('writeStoredProof then readStoredProof round-trips through the manifest; an unproven artifact reads undefined', async () => {
  const { root, m, entry, dir } = await storeWithModule('roundtrip');
  assert.is(await readStoredProof(root, entry), undefined);
  const p = fixtureProof(entry);
  await writeStoredProof(root, entry, p);
  const bytes = await fs.readFile(path.join(dir, PROOF_FILE));
  const manifest = await new DirStore(root).readManifest(entry);
  assert.equal(manifest.proof, { file: 'proof.json', sha256: sha(bytes) });
  assert.is(manifest.sha256, m.sha256);
  const got = await readStoredProof(root, entry);
  assert.equal(got?.proof, p);
  assert.ok(got?.bytes.equals(bytes));
  // the artifact still verifies as before
  assert.is((await new DirStore(root).verify(entry)).ok, true);
});

test('writeStoredProof refuses a proof of other bytes, another kernel, or a failed verdict, and writes nothing', async () => {
  const { root, entry, dir } = await storeWithModule('refuse-write');
  for (const p of [fixtureProof({ ...entry, sha256: sha('other') }), fixtureProof({ ...entry, kernelRelease: '6.1.0-56-amd64' }), fixtureProof(entry, { verdict: 'failed', checks: [{ name: 'boot', ok: false, detail: 'panic', ms: 1 }] })]) {
    await rejects(() => writeStoredProof(root, entry, p), (e: Error) => e instanceof ProofError);
  }
  await rejects(() => fs.stat(path.join(dir, PROOF_FILE)));
  assert.is((await new DirStore(root).readManifest(entry)).proof, undefined);
  // the module's bytes on disk are re-hashed: a store whose module changed under the index gets no proof
  await fs.chmod(path.join(dir, 'nbd.ko'), 0o644);
  await fs.writeFile(path.join(dir, 'nbd.ko'), 'not the module');
  await rejects(() => writeStoredProof(root, entry, fixtureProof(entry)), (e: Error) => e instanceof ProofError && /proof not stored/.test(e.message));
});

test('readStoredProof refuses a proof.json whose sha256 differs from the manifest, a symlink, a missing one, and one of another artifact', async () => {
  const { root, entry, dir } = await storeWithModule('hostile-read');
  await writeStoredProof(root, entry, fixtureProof(entry));
  const file = path.join(dir, PROOF_FILE);
  const good = await fs.readFile(file, 'utf8');
  // edited after it was made (still valid JSON, still a valid record): the manifest's sha256 catches it
  await fs.writeFile(file, good.replace('2026-12-01T10:00:00.000Z', '2026-12-02T10:00:00.000Z'));
  await rejects(() => readStoredProof(root, entry), (e: Error) => e instanceof ProofError && /the manifest says/.test(e.message));
  // a symlink planted as proof.json is not followed, whatever it points at
  await fs.rm(file);
  const outside = path.join(tmp, 'outside-proof.json');
  await fs.writeFile(outside, good);
  await fs.symlink(outside, file);
  await rejects(() => readStoredProof(root, entry), (e: Error) => e instanceof ProofError && /a symlink/.test(e.message));
  await fs.rm(file);
  await rejects(() => readStoredProof(root, entry), (e: Error) => e instanceof ProofError && /missing/.test(e.message));
  // a FIFO does not hang the reader
  await new Promise<void>((res, rej) => import('node:child_process').then(({ execFile }) => execFile('mkfifo', [file], (err) => (err ? rej(err) : res()))));
  await rejects(() => readStoredProof(root, entry), (e: Error) => e instanceof ProofError && /FIFO/.test(e.message));
  await fs.rm(file);
  // a well-formed proof of another module, with a manifest that names its exact sha256: still not this artifact's
  const other = JSON.stringify(fixtureProof({ ...entry, sha256: sha('other') }), null, 2) + '\n';
  await fs.writeFile(file, other);
  const mf = path.join(dir, 'manifest.json');
  const manifest = JSON.parse(await fs.readFile(mf, 'utf8'));
  manifest.proof.sha256 = sha(other);
  await fs.chmod(mf, 0o644);
  await fs.writeFile(mf, JSON.stringify(manifest));
  await rejects(() => readStoredProof(root, entry), (e: Error) => e instanceof ProofError && /not this module's proof/.test(e.message));
});

test.run();
