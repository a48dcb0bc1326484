/**
 * The proof record (contract shared with branch h18b, which owns this file: this copy codes against
 * the contract until that one lands). proof.json sits beside the module in the store; the manifest
 * names its sha256.
 */
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { IndexEntry } from '../artifacts/store-layout.ts';
import { readRegular } from '../util/read-regular.ts';
import { writeFileAtomic } from '../util/atomic.ts';

export const PROOF_FILE = 'proof.json';
export const PROOF_VERSION = 1;
const MAX_PROOF = 256 * 1024;
const HEX64 = /^[0-9a-f]{64}$/;

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

export class ProofError extends Error {
  override name = 'ProofError';
  readonly exitCode = 3;
}

export function proofKey(moduleSha256: string, kernelPackageSha256: string, proofVersion = PROOF_VERSION): string {
  return createHash('sha256').update(`${moduleSha256}\n${kernelPackageSha256}\n${proofVersion}`).digest('hex');
}

export function parseProof(text: string, where: string): ProofRecord {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new ProofError(`${where}: not JSON`);
  }
  const fail = (f: string, why: string): never => {
    throw new ProofError(`${where}: field "${f}" ${why}`);
  };
  const str = (o: Record<string, unknown>, f: string, at: string, max = 512) => {
    if (typeof o[f] !== 'string' || (o[f] as string).length === 0 || (o[f] as string).length > max) fail(at, `must be a non-empty string of at most ${max} characters`);
  };
  const obj = (x: unknown, at: string) => {
    if (!x || typeof x !== 'object' || Array.isArray(x)) fail(at, 'must be an object');
    return x as Record<string, unknown>;
  };
  obj(v, '(root)');
  if (v.schema !== 1) fail('schema', 'must be 1');
  if (!Number.isInteger(v.proofVersion) || (v.proofVersion as number) < 1) fail('proofVersion', 'must be a positive integer');
  if (typeof v.key !== 'string' || !HEX64.test(v.key)) fail('key', 'must be a sha256 hex digest');
  if (v.verdict !== 'proven' && v.verdict !== 'failed') fail('verdict', 'must be "proven" or "failed"');
  for (const f of ['family', 'kernelRelease', 'taint', 'signature', 'date', 'nbdforge']) str(v, f, f);
  const kp = obj(v.kernelPackage, 'kernelPackage');
  str(kp, 'name', 'kernelPackage.name');
  str(kp, 'version', 'kernelPackage.version');
  if (typeof kp.sha256 !== 'string' || !HEX64.test(kp.sha256)) fail('kernelPackage.sha256', 'must be a sha256 hex digest');
  const m = obj(v.module, 'module');
  str(m, 'file', 'module.file', 128);
  if (typeof m.sha256 !== 'string' || !HEX64.test(m.sha256)) fail('module.sha256', 'must be a sha256 hex digest');
  const q = obj(v.qemu, 'qemu');
  str(q, 'version', 'qemu.version', 64);
  if (q.accel !== 'kvm' && q.accel !== 'tcg') fail('qemu.accel', 'must be "kvm" or "tcg"');
  if (!Array.isArray(v.checks) || v.checks.length === 0 || v.checks.length > 64) fail('checks', 'must be an array of 1 to 64 checks');
  (v.checks as unknown[]).forEach((c, i) => {
    const cc = obj(c, `checks[${i}]`);
    str(cc, 'name', `checks[${i}].name`, 64);
    if (typeof cc.ok !== 'boolean') fail(`checks[${i}].ok`, 'must be a boolean');
    if (typeof cc.detail !== 'string' || cc.detail.length > 2048) fail(`checks[${i}].detail`, 'must be a string of at most 2048 characters');
    if (typeof cc.ms !== 'number' || !Number.isFinite(cc.ms) || cc.ms < 0) fail(`checks[${i}].ms`, 'must be a non-negative number');
  });
  if (!Array.isArray(v.dmesg) || v.dmesg.length > 200 || v.dmesg.some((l) => typeof l !== 'string' || l.length > 512)) fail('dmesg', 'must be at most 200 strings of at most 512 characters');
  if (v.key !== proofKey(m.sha256 as string, kp.sha256 as string, v.proofVersion as number)) fail('key', 'is not the key of its module, kernel package and proof version');
  if (v.verdict === 'proven' && (v.checks as ProofCheck[]).some((c) => !c.ok)) fail('verdict', 'says proven but a check failed');
  return v as unknown as ProofRecord;
}

export function checkProofFor(p: ProofRecord, artifact: { kernelRelease: string; sha256: string }, where: string): void {
  if (p.verdict !== 'proven') throw new ProofError(`${where}: the proof's verdict is ${p.verdict}`);
  if (p.module.sha256 !== artifact.sha256) throw new ProofError(`${where}: the proof is of other module bytes than the artifact's`);
  if (p.kernelRelease !== artifact.kernelRelease) throw new ProofError(`${where}: the proof is for kernel ${p.kernelRelease}, the artifact for ${artifact.kernelRelease}`);
}

export function proofLine(p: ProofRecord): string {
  return `${p.verdict} in ${p.kernelRelease} on ${p.date.slice(0, 10)} (QEMU ${p.qemu.version}, ${p.qemu.accel}, ${p.checks.length} checks)`;
}

export function proofLabel(p: ProofRecord): string {
  return `${p.verdict} in ${p.kernelRelease} on ${p.date.slice(0, 10)} key ${p.key.slice(0, 12)}`;
}

interface ManifestProofRef { proof?: { file: string; sha256: string } }

export async function readStoredProof(storeRoot: string, entry: IndexEntry): Promise<{ proof: ProofRecord; bytes: Buffer } | undefined> {
  const dir = path.join(storeRoot, entry.dir);
  const mf = path.join(dir, 'manifest.json');
  const manifest = JSON.parse((await readRegular(mf, { maxBytes: 1 << 20 })).toString('utf8')) as ManifestProofRef;
  if (!manifest.proof) return undefined;
  if (manifest.proof.file !== PROOF_FILE || typeof manifest.proof.sha256 !== 'string' || !HEX64.test(manifest.proof.sha256)) throw new ProofError(`${mf}: field "proof" must be {file: "${PROOF_FILE}", sha256}`);
  const file = path.join(dir, PROOF_FILE);
  const bytes = await readRegular(file, { maxBytes: MAX_PROOF });
  if (createHash('sha256').update(bytes).digest('hex') !== manifest.proof.sha256) throw new ProofError(`${file}: its bytes do not hash to the sha256 its manifest names`);
  const proof = parseProof(bytes.toString('utf8'), file);
  checkProofFor(proof, entry, file);
  return { proof, bytes };
}

export async function writeStoredProof(storeRoot: string, entry: IndexEntry, proof: ProofRecord): Promise<void> {
  const dir = path.join(storeRoot, entry.dir);
  checkProofFor(proof, entry, dir);
  const bytes = Buffer.from(JSON.stringify(proof, null, 2) + '\n');
  if (bytes.length > MAX_PROOF) throw new ProofError(`${dir}: the proof is larger than ${MAX_PROOF} bytes`);
  const mf = path.join(dir, 'manifest.json');
  const manifest = JSON.parse((await readRegular(mf, { maxBytes: 1 << 20 })).toString('utf8')) as Record<string, unknown>;
  await writeFileAtomic(path.join(dir, PROOF_FILE), bytes);
  manifest.proof = { file: PROOF_FILE, sha256: createHash('sha256').update(bytes).digest('hex') };
  await writeFileAtomic(mf, JSON.stringify(manifest, null, 2) + '\n');
}
