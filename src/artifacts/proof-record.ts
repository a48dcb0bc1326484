/**
 * The proof record: what booting an artifact's own kernel and moving data through its module
 * showed. proof.json sits beside the module in the store's artifact directory and the manifest
 * names its sha256; publish, prepare-host and pull carry and check it. Everything here reads
 * untrusted text (a store to merge, a site, a registry): every field is validated and bounded, the
 * key recomputed, and a message names the place and the first bad field, never the input's text.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { sha256, sha256File } from '../util/hash.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { withFileLock } from '../util/file-lock.ts';
import { findUnseen } from '../util/control-chars.ts';
import { readRegular } from '../util/read-regular.ts';
import { DirStore } from './dir-store.ts';
import { type IndexEntry, isSafeName, jsonErrorWithoutContent } from './store-layout.ts';
import { NbdforgeError } from '../errors.ts';

export const PROOF_FILE = 'proof.json';
/** Bump when the checks change: old proofs stop matching the cache key. */
export const PROOF_VERSION = 1;
/** A real proof.json is a few KB; this bounds what is read whole. */
export const MAX_PROOF_BYTES = 256 * 1024;

export interface ProofCheck { name: string; ok: boolean; detail: string; ms: number }
export interface ProofRecord {
  schema: 1;
  proofVersion: number;
  key: string;
  verdict: 'proven' | 'failed';
  family: string;
  kernelRelease: string;
  kernelPackage: { name: string; version: string; sha256: string };
  module: { file: string; sha256: string };
  qemu: { version: string; accel: 'kvm' | 'tcg' };
  checks: ProofCheck[];
  dmesg: string[];
  taint: string;
  signature: string;
  date: string;
  nbdforge: string;
}

/** A proof that is malformed, damaged or not this artifact's: refused, nothing touched. */
export class ProofError extends NbdforgeError {
  override name = 'ProofError';
  override readonly exitCode = 3;
}

const HEX64 = /^[0-9a-f]{64}$/;
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;
const MAX_CHECKS = 64;
const MAX_DMESG = 200;
const MAX_DMESG_LINE = 512;

/** sha256 hex of `${module}\n${kernelPackage}\n${version}`: the prove cache's key. */
export function proofKey(moduleSha256: string, kernelPackageSha256: string, proofVersion = PROOF_VERSION): string {
  return sha256(`${moduleSha256}\n${kernelPackageSha256}\n${proofVersion}`);
}

type Obj = Record<string, unknown>;
type Fail = (field: string, why: string) => never;

function obj(v: unknown, field: string, keys: string[], fail: Fail): Obj {
  if (!v || typeof v !== 'object' || Array.isArray(v)) fail(field, 'must be an object');
  const extra = Object.keys(v as Obj).filter((k) => !keys.includes(k));
  if (extra.length) fail(field, `has ${extra.length} field(s) the proof format does not have`);
  return v as Obj;
}

function str(o: Obj, f: string, field: string, max: number, fail: Fail, re?: RegExp): string {
  const v = o[f];
  if (typeof v !== 'string' || v.length === 0 || v.length > max) fail(field, `must be a non-empty string of at most ${max} characters`);
  const s = v as string;
  if (findUnseen(s)) fail(field, 'contains a control, line-separator or bidi character');
  if (re && !re.test(s)) fail(field, 'is not in the expected form');
  return s;
}

function hex(o: Obj, f: string, field: string, fail: Fail): string {
  if (typeof o[f] !== 'string' || !HEX64.test(o[f] as string)) fail(field, 'must be a sha256 hex digest');
  return o[f] as string;
}

function parseChecks(v: unknown, fail: Fail): ProofCheck[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_CHECKS) fail('checks', `must be an array of 1 to ${MAX_CHECKS} checks`);
  return (v as unknown[]).map((c, i) => {
    const at = `checks[${i}]`;
    const o = obj(c, at, ['name', 'ok', 'detail', 'ms'], fail);
    const name = str(o, 'name', `${at}.name`, 64, fail, /^[A-Za-z0-9][A-Za-z0-9._-]*$/);
    if (typeof o.ok !== 'boolean') fail(`${at}.ok`, 'must be true or false');
    if (typeof o.detail !== 'string' || o.detail.length > 2048 || findUnseen(o.detail)) fail(`${at}.detail`, 'must be one line of at most 2048 characters');
    if (typeof o.ms !== 'number' || !Number.isFinite(o.ms) || o.ms < 0 || o.ms > 86_400_000) fail(`${at}.ms`, 'must be a duration in ms (0 to one day)');
    return { name, ok: o.ok as boolean, detail: o.detail as string, ms: o.ms as number };
  });
}

function parseDmesg(v: unknown, fail: Fail): string[] {
  if (!Array.isArray(v) || v.length > MAX_DMESG) fail('dmesg', `must be an array of at most ${MAX_DMESG} lines`);
  return (v as unknown[]).map((l, i) => {
    // A tab is what some kernel lines carry; every other control character is refused.
    if (typeof l !== 'string' || l.length > MAX_DMESG_LINE || findUnseen(l.replace(/\t/g, ' '))) fail(`dmesg[${i}]`, `must be one line of at most ${MAX_DMESG_LINE} characters`);
    return l as string;
  });
}

const TOP = ['schema', 'proofVersion', 'key', 'verdict', 'family', 'kernelRelease', 'kernelPackage', 'module', 'qemu', 'checks', 'dmesg', 'taint', 'signature', 'date', 'nbdforge'];

/** Strictly validate proof.json's text into a fresh ProofRecord, naming `where` and the first bad field. */
export function parseProof(text: string, where: string): ProofRecord {
  const fail: Fail = (field, why) => {
    throw new ProofError(`${where}: field "${field}" ${why}`);
  };
  if (Buffer.byteLength(text, 'utf8') > MAX_PROOF_BYTES) throw new ProofError(`${where}: more than ${MAX_PROOF_BYTES} bytes, not a proof record`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ProofError(`${where}: not JSON (${text.length === 0 ? 'empty file' : jsonErrorWithoutContent(err)})`);
  }
  const o = obj(value, '(root)', TOP, fail);
  if (o.schema !== 1) fail('schema', 'must be 1');
  if (!Number.isSafeInteger(o.proofVersion) || (o.proofVersion as number) < 1 || (o.proofVersion as number) > 1_000_000) fail('proofVersion', 'must be a positive integer');
  const key = hex(o, 'key', 'key', fail);
  if (o.verdict !== 'proven' && o.verdict !== 'failed') fail('verdict', 'must be "proven" or "failed"');
  const family = o.family, kernelRelease = o.kernelRelease;
  if (!isSafeName(family)) fail('family', 'must be a plain name');
  if (!isSafeName(kernelRelease)) fail('kernelRelease', 'must be a plain name');
  const kp = obj(o.kernelPackage, 'kernelPackage', ['name', 'version', 'sha256'], fail);
  const kernelPackage = {
    name: str(kp, 'name', 'kernelPackage.name', 200, fail, /^[A-Za-z0-9][A-Za-z0-9._+~-]*$/),
    version: str(kp, 'version', 'kernelPackage.version', 200, fail, /^[A-Za-z0-9.:+~_-]+$/),
    sha256: hex(kp, 'sha256', 'kernelPackage.sha256', fail),
  };
  const mo = obj(o.module, 'module', ['file', 'sha256'], fail);
  if (!isSafeName(mo.file)) fail('module.file', 'must be a plain file name');
  const module = { file: mo.file as string, sha256: hex(mo, 'sha256', 'module.sha256', fail) };
  const q = obj(o.qemu, 'qemu', ['version', 'accel'], fail);
  const qemuVersion = str(q, 'version', 'qemu.version', 100, fail);
  if (q.accel !== 'kvm' && q.accel !== 'tcg') fail('qemu.accel', 'must be "kvm" or "tcg"');
  const checks = parseChecks(o.checks, fail);
  const dmesg = parseDmesg(o.dmesg, fail);
  const taint = str(o, 'taint', 'taint', 64, fail);
  const signature = str(o, 'signature', 'signature', 512, fail);
  const date = str(o, 'date', 'date', 40, fail, ISO_UTC);
  if (Number.isNaN(Date.parse(date))) fail('date', 'is not a real date');
  const nbdforge = str(o, 'nbdforge', 'nbdforge', 64, fail, /^[0-9A-Za-z.+~-]+$/);
  const proofVersion = o.proofVersion as number;
  if (proofKey(module.sha256, kernelPackage.sha256, proofVersion) !== key)
    fail('key', 'is not the key of this module, kernel package and proof version (a proof edited after it was made?)');
  if (o.verdict === 'proven' && !checks.every((c) => c.ok)) fail('verdict', 'says proven but a check failed');
  return {
    schema: 1, proofVersion, key, verdict: o.verdict as ProofRecord['verdict'], family: family as string, kernelRelease: kernelRelease as string,
    kernelPackage, module, qemu: { version: qemuVersion, accel: q.accel as 'kvm' | 'tcg' }, checks, dmesg, taint, signature, date, nbdforge,
  };
}

/** Throw unless `p` proves exactly this artifact: verdict proven, the same module bytes, the same kernel (and family when given). */
export function checkProofFor(p: ProofRecord, artifact: { kernelRelease: string; sha256: string; family?: string }, where: string): void {
  if (p.verdict !== 'proven') {
    const failed = p.checks.find((c) => !c.ok);
    throw new ProofError(`${where}: the proof's verdict is "${p.verdict}"${failed ? ` (check ${failed.name} failed)` : ''}, not proven`);
  }
  if (p.module.sha256 !== artifact.sha256)
    throw new ProofError(`${where}: the proof is of module sha256 ${p.module.sha256.slice(0, 12)}, the artifact is ${artifact.sha256.slice(0, 12)}: not this module's proof`);
  if (p.kernelRelease !== artifact.kernelRelease) throw new ProofError(`${where}: the proof is for kernel ${p.kernelRelease}, the artifact is for ${artifact.kernelRelease}`);
  if (artifact.family !== undefined && p.family !== artifact.family) throw new ProofError(`${where}: the proof is for family ${p.family}, the artifact is ${artifact.family}`);
}

/** "proven in 6.1.0-57-amd64 on 2026-12-03 (QEMU 7.2.19, tcg, 9 checks)" */
export function proofLine(p: ProofRecord): string {
  const failed = p.checks.find((c) => !c.ok);
  const head = p.verdict === 'proven' ? 'proven' : `FAILED (${failed ? failed.name : 'no check passed'})`;
  return `${head} in ${p.kernelRelease} on ${p.date.slice(0, 10)} (QEMU ${p.qemu.version}, ${p.qemu.accel}, ${p.checks.length} checks)`;
}

/** One compact line for OCI labels, Kubernetes annotations and package descriptions. */
export function proofLabel(p: ProofRecord): string {
  return `${p.verdict} in ${p.kernelRelease} on ${p.date.slice(0, 10)} key ${p.key.slice(0, 12)}`;
}

/**
 * The proof of a stored artifact, via its manifest's proof field; undefined when it has none
 * (unproven). The bytes must hash to what the manifest says and prove this very artifact, else
 * ProofError. proof.json is opened with O_NOFOLLOW, never a FIFO or a device, bounded.
 */
export async function readStoredProof(storeRoot: string, entry: IndexEntry): Promise<{ proof: ProofRecord; bytes: Buffer } | undefined> {
  const store = new DirStore(storeRoot);
  const manifest = await store.readManifest(entry);
  if (!manifest.proof) return undefined;
  const file = store.artifactPath(entry, manifest.proof.file);
  let bytes: Buffer;
  try {
    bytes = await readRegular(file, { maxBytes: MAX_PROOF_BYTES });
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing, though its manifest names it' : (err as Error).message.replace(`${file}: `, '');
    throw new ProofError(`${file}: ${why}`);
  }
  const got = sha256(bytes);
  if (got !== manifest.proof.sha256) throw new ProofError(`${file}: sha256 ${got.slice(0, 12)}, the manifest says ${manifest.proof.sha256.slice(0, 12)} (damaged or edited)`);
  const proof = parseProof(bytes.toString('utf8'), file);
  checkProofFor(proof, entry, file);
  return { proof, bytes };
}

/**
 * Attach a proven record to a stored artifact: checked against the artifact (and the module's
 * bytes re-hashed), proof.json written atomically, then the manifest rewritten atomically with the
 * proof field, all under the store's index lock so a concurrent build or prove cannot interleave.
 * `bytes`: the exact proof.json to keep (one that travelled: pull), which must be this record.
 */
export async function writeStoredProof(storeRoot: string, entry: IndexEntry, proof: ProofRecord, bytes?: Buffer): Promise<void> {
  const store = new DirStore(storeRoot);
  const where = `${entry.family}/${entry.kernelRelease}/${entry.module}`;
  checkProofFor(proof, entry, `proof for ${where}`);
  const text = bytes ? bytes.toString('utf8') : JSON.stringify(proof, null, 2) + '\n';
  // what is written must read back, as this very record
  if (JSON.stringify(parseProof(text, `proof for ${where}`)) !== JSON.stringify(parseProof(JSON.stringify(proof), `proof for ${where}`)))
    throw new ProofError(`proof for ${where}: the bytes given are not this record`);
  await withFileLock(`${store.indexFile}.lock`, async () => {
    const still = (await store.readIndex()).artifacts.find((a) => a.key === entry.key && a.dir === entry.dir);
    if (!still) throw new ProofError(`${where}: the artifact ${entry.dir} is no longer in ${storeRoot} (replaced while it was proven?); proof not stored`);
    const dir = path.join(storeRoot, still.dir);
    const st = await fs.lstat(dir);
    if (!st.isDirectory()) throw new ProofError(`${dir}: not a directory of the store (a symlink?); proof not stored`);
    const manifest = await store.readManifest(still);
    const got = await sha256File(store.artifactPath(still));
    if (got !== proof.module.sha256) throw new ProofError(`${store.artifactPath(still)}: sha256 ${got.slice(0, 12)}, the proof is of ${proof.module.sha256.slice(0, 12)}; proof not stored`);
    await writeFileAtomic(store.artifactPath(still, PROOF_FILE), text);
    manifest.proof = { file: PROOF_FILE, sha256: sha256(text) };
    await writeFileAtomic(store.artifactPath(still, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  }, { timeoutMs: 30_000 });
}
