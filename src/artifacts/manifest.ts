import { isSafeName } from './store-layout.ts';
import type { Check } from '../verify/check.ts';

export type { Check };
import { NbdforgeError } from '../errors.ts';

/** What an artifact carries: the module's identity and everything that was proven about it. */
export interface Manifest {
  schema: 1;
  /** Content key: hash of every input of the build (see builder/key.ts). */
  key: string;
  family: string;
  kernelRelease: string;
  module: string;
  /** File names inside the artifact directory. */
  file: string;
  debugFile: string;
  sha256: string;
  size: number;
  debugSha256: string;
  vermagic: string;
  checks: Check[];
  /** Name -> sha256 of every input (source packages, extracted sources, patches, recipe). */
  inputs: Record<string, string>;
  builderImage: string;
  compiler: string;
  durationMs: number;
  tool: { name: 'nbdforge'; version: string };
  createdAt: string;
  /** Present when the module was signed (build --sign-key/--sign-cert); `file` is then the signed module. */
  signature?: ModuleSignature;
  /** Present when the module was proven in its own kernel (src/artifacts/proof-record.ts): proof.json beside the module and its sha256. */
  proof?: ManifestProof;
}

export interface ManifestProof {
  file: 'proof.json';
  sha256: string;
}

export interface ModuleSignature {
  /** pkcs7 (kernels >= 4.3, Debian) or x509 (the 3.x format of CentOS 7 trees). */
  format: 'pkcs7' | 'x509';
  /** Digest and public-key algorithm, e.g. sha256 and rsa. */
  hash: string;
  keyAlgorithm: string;
  signer: { subject: string; fingerprint: string };
  /** The signer's DER certificate, base64: anyone holding the artifact can re-check the signature. */
  certificate: string;
  /** sha256 of the module before signing: the bytes the vermagic, CRC and oracle checks ran on. */
  unsignedSha256: string;
}

export class ManifestError extends NbdforgeError {
  override name = 'ManifestError';
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Validate untrusted JSON (a store on disk, a download) into a Manifest, naming the first bad field. */
export function parseManifest(value: unknown, where = 'manifest'): Manifest {
  const m = value as Record<string, unknown>;
  const fail = (field: string, why: string): never => {
    throw new ManifestError(`${where}: field "${field}" ${why}`);
  };
  if (!m || typeof m !== 'object' || Array.isArray(m)) fail('(root)', 'is not an object');
  if (m.schema !== 1) fail('schema', `must be 1, got ${JSON.stringify(m.schema)}`);
  for (const f of ['family', 'kernelRelease', 'module', 'file', 'debugFile', 'vermagic', 'builderImage', 'compiler', 'createdAt']) {
    if (typeof m[f] !== 'string' || (m[f] as string).length === 0) fail(f, 'must be a non-empty string');
  }
  for (const f of ['key', 'sha256', 'debugSha256']) {
    if (typeof m[f] !== 'string' || !HEX64.test(m[f] as string)) fail(f, 'must be a sha256 hex digest');
  }
  for (const f of ['size', 'durationMs']) {
    if (typeof m[f] !== 'number' || !Number.isFinite(m[f]) || (m[f] as number) < 0) fail(f, 'must be a non-negative number');
  }
  if (!Array.isArray(m.checks) || m.checks.length === 0) fail('checks', 'must be a non-empty array');
  (m.checks as unknown[]).forEach((c, i) => {
    const cc = c as Record<string, unknown>;
    if (!cc || typeof cc.name !== 'string' || typeof cc.ok !== 'boolean' || typeof cc.detail !== 'string')
      fail(`checks[${i}]`, 'must be {name: string, ok: boolean, detail: string}');
  });
  if (!m.inputs || typeof m.inputs !== 'object' || Array.isArray(m.inputs)) fail('inputs', 'must be an object');
  for (const [k, v] of Object.entries(m.inputs as object)) {
    if (typeof v !== 'string' || !HEX64.test(v)) fail(`inputs.${k}`, 'must be a sha256 hex digest');
  }
  const tool = m.tool as Record<string, unknown>;
  if (!tool || tool.name !== 'nbdforge' || typeof tool.version !== 'string') fail('tool', 'must be {name: "nbdforge", version}');
  // These become path segments of the store (family/kernel/module-key) and file names in it.
  for (const f of ['family', 'kernelRelease', 'module', 'file', 'debugFile']) {
    if (!isSafeName(m[f])) fail(f, 'must be a plain name (no "/", ".", "..", or empty)');
  }
  for (const f of ['file', 'debugFile']) if (m[f] === 'manifest.json') fail(f, 'must not be manifest.json');
  if (m.file === m.debugFile) fail('debugFile', 'must differ from file');
  if (m.signature !== undefined) parseSignature(m.signature, fail);
  if (m.proof !== undefined) {
    const p = m.proof as Record<string, unknown>;
    if (!p || typeof p !== 'object' || Array.isArray(p) || Object.keys(p).length !== 2) fail('proof', 'must be {file: "proof.json", sha256}');
    if (p.file !== 'proof.json') fail('proof.file', 'must be "proof.json"');
    if (typeof p.sha256 !== 'string' || !HEX64.test(p.sha256)) fail('proof.sha256', 'must be a sha256 hex digest');
    if (m.file === 'proof.json' || m.debugFile === 'proof.json') fail('proof.file', 'must differ from file and debugFile');
  }
  return m as unknown as Manifest;
}

function parseSignature(value: unknown, fail: (field: string, why: string) => never): void {
  const s = value as Record<string, unknown>;
  if (!s || typeof s !== 'object' || Array.isArray(s)) fail('signature', 'must be an object');
  if (s.format !== 'pkcs7' && s.format !== 'x509') fail('signature.format', 'must be "pkcs7" or "x509"');
  for (const f of ['hash', 'keyAlgorithm']) if (typeof s[f] !== 'string' || !/^[a-z0-9-]{1,20}$/.test(s[f] as string)) fail(`signature.${f}`, 'must be an algorithm name');
  const signer = s.signer as Record<string, unknown>;
  if (!signer || typeof signer.subject !== 'string' || typeof signer.fingerprint !== 'string' || !HEX64.test(signer.fingerprint))
    fail('signature.signer', 'must be {subject: string, fingerprint: sha256 hex}');
  if (typeof s.certificate !== 'string' || !/^[A-Za-z0-9+/]+=*$/.test(s.certificate) || s.certificate.length > 90_000) fail('signature.certificate', 'must be base64 DER');
  if (typeof s.unsignedSha256 !== 'string' || !HEX64.test(s.unsignedSha256)) fail('signature.unsignedSha256', 'must be a sha256 hex digest');
}

/** An artifact may be published only if every check passed. */
export function allChecksPassed(m: Pick<Manifest, 'checks'>): boolean {
  return m.checks.length > 0 && m.checks.every((c) => c.ok);
}
