import { familyOfRelease } from '../families/index.ts';
import { shQuote } from '../host/quote.ts';
import { parseElf, vermagicOf } from '../verify/index.ts';
import { allChecksPassed, type Manifest } from '../artifacts/manifest.ts';
import type { IndexEntry } from '../artifacts/dir-store.ts';
import { sha256 } from '../util/hash.ts';
import type { ArtifactSource } from './artifact-source.ts';
import { SourceError } from './source-error.ts';
import { hasAppendedSignature } from '../verify/module-signature.ts';
import { readSigningCert, CertificateError } from '../verify/certificate.ts';
import { verifyModuleSignature, SignatureError } from '../verify/signature.ts';
import { ProofError, type ProofRecord, checkProofFor } from '../artifacts/proof-record.ts';
import { NbdforgeError } from '../errors.ts';

/** A module chosen for one kernel and proven, before any host is touched, to be the bytes the store vouches for. */
export interface ResolvedArtifact {
  source: string;
  entry: IndexEntry;
  manifest: Manifest;
  bytes: Uint8Array;
  sha256: string;
  /** Read from the module's own .modinfo, whitespace-normalised. */
  vermagic: string;
  /** Present when the module is signed and its signature verified against the manifest's certificate. */
  signer?: { subject: string; fingerprint: string };
  /** Present when the artifact was proven in its own kernel: checked to prove these very bytes in this kernel. */
  proof?: ProofRecord;
}

export class ArtifactError extends NbdforgeError {
  constructor(
    override readonly name: 'NoArtifactError' | 'CorruptArtifactError' | 'WrongKernelError',
    message: string,
  ) {
    super(message);
  }
}

export const normVermagic = (v: string) => v.trim().split(/\s+/).join(' ');

/**
 * Pick the store's module for `kernelRelease`, then check: manifest agrees with the index, every
 * build check passed, sha256 of the bytes, and the vermagic inside the ELF names this kernel (and
 * equals the running kernel's own vermagic when the host told us one).
 */
export async function resolveArtifact(src: ArtifactSource, kernelRelease: string, opts: { module?: string; hostVermagic?: string } = {}): Promise<ResolvedArtifact> {
  const module = opts.module ?? 'nbd';
  const all = await src.list().catch((err: unknown) => {
    // a directory that is no store yet: the build that makes it one, for this kernel, runnable as printed
    if (err instanceof SourceError && err.noStore === true) throw new SourceError(`${err.message}; build one with: ${buildHint(kernelRelease, src.location)}`);
    throw err;
  });
  const entry = all.find((a) => a.kernelRelease === kernelRelease && a.module === module);
  if (!entry) {
    const held = all.filter((a) => a.module === module).map((a) => `${a.kernelRelease} (${a.family})`);
    throw new ArtifactError(
      'NoArtifactError',
      `no ${module}.ko for kernel ${kernelRelease} in ${src.location}; the store holds ${held.length ? held.join(', ') : 'no ' + module + ' modules'}` +
        `\n  build one with: ${buildHint(kernelRelease, src.location)}`,
    );
  }
  const where = `${src.location}: ${entry.dir}/${entry.file}`;
  const manifest = await src.manifest(entry);
  const corrupt = (why: string) => new ArtifactError('CorruptArtifactError', `${where}: ${why}; refusing to install it`);
  if (manifest.sha256 !== entry.sha256 || manifest.kernelRelease !== entry.kernelRelease || manifest.module !== entry.module)
    throw corrupt('manifest and index disagree');
  if (!allChecksPassed(manifest)) throw corrupt(`failed build checks: ${manifest.checks.filter((c) => !c.ok).map((c) => c.name).join(', ')}`);
  const bytes = await src.bytes(entry, manifest.size);
  const got = sha256(bytes);
  if (got !== manifest.sha256) throw corrupt(`sha256 is ${got}, the manifest says ${manifest.sha256}`);
  let vermagic: string;
  try {
    vermagic = normVermagic(vermagicOf(parseElf(bytes, entry.file)));
  } catch (err) {
    throw corrupt(`cannot read its vermagic (${(err as Error).message})`);
  }
  const wrong = (why: string) => new ArtifactError('WrongKernelError', `${where}: ${why}; the kernel would refuse it or misbehave, so it is not installed`);
  if (vermagic.split(' ')[0] !== kernelRelease) throw wrong(`built for kernel ${vermagic.split(' ')[0]} (vermagic "${vermagic}"), this host runs ${kernelRelease}`);
  if (normVermagic(manifest.vermagic) !== vermagic) throw corrupt(`vermagic "${vermagic}" differs from the manifest's "${manifest.vermagic}"`);
  if (opts.hostVermagic && normVermagic(opts.hostVermagic) !== vermagic)
    throw wrong(`vermagic "${vermagic}" differs from the running kernel's "${normVermagic(opts.hostVermagic)}"`);
  const signer = checkSigned(bytes, manifest, corrupt);
  let proof: ProofRecord | undefined;
  try {
    proof = await src.proof(entry, manifest);
    if (proof) checkProofFor(proof, { kernelRelease, sha256: got, family: entry.family }, `${entry.dir}/proof.json`);
  } catch (err) {
    if (err instanceof ProofError) throw corrupt(`its proof is damaged or not its own: ${err.message}`);
    throw err;
  }
  return { source: src.location, entry, manifest, bytes, sha256: got, vermagic, signer, ...(proof ? { proof } : {}) };
}

/** A signed module is re-verified here against the certificate its manifest carries; an unsigned one must say so too. */
function checkSigned(bytes: Uint8Array, manifest: Manifest, corrupt: (why: string) => ArtifactError): ResolvedArtifact['signer'] {
  const sig = manifest.signature;
  if (!sig) {
    if (hasAppendedSignature(bytes)) throw corrupt('the module carries a signature its manifest does not record');
    return undefined;
  }
  try {
    const cert = readSigningCert(Buffer.from(sig.certificate, 'base64'), 'the manifest\'s signing certificate');
    if (cert.fingerprint !== sig.signer.fingerprint) throw corrupt(`the manifest's certificate has fingerprint ${cert.fingerprint}, its signer field says ${sig.signer.fingerprint}`);
    const info = verifyModuleSignature(bytes, cert, 'module');
    if (sha256(info.content) !== sig.unsignedSha256) throw corrupt('the signed bytes are not the module the build verified');
    return { subject: cert.subject, fingerprint: cert.fingerprint };
  } catch (err) {
    if (err instanceof SignatureError || err instanceof CertificateError) throw corrupt(err.message);
    throw err;
  }
}

/** A build command for the missing module, runnable as printed where the store is a local directory. */
function buildHint(kernelRelease: string, location: string): string {
  const family = familyOfRelease(kernelRelease);
  const build = `nbdforge build${family ? ` --family ${family}` : ''} --kernel ${kernelRelease}`;
  if (/^https?:\/\//.test(location)) return `${build}, then publish it to ${location} (nbdforge publish --to dir:... --gpg-key KEY)`;
  return `${build} --store ${shQuote(location)}`;
}
