/**
 * Every request runs under the fetch door's bounds (opts.net): each blob's deadline follows the
 * size its descriptor announces, so the whole pull ends within the sum of its transfers' bounds.
 *
 * `nbdforge pull oci://HOST/REPO:TAG`: fetch an image nbdforge published, prove it is what it
 * claims (manifest and layer digests, every layer's diff_id, the tag against the kernel label, the
 * module's sha256 against the label and the manifest, its vermagic read from the ELF), fetch the
 * proof beside it and check its signature by the pinned key, then re-verify the module against the
 * family's own sources (what the registry says about it is never believed), and store the artifact.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { DirStore } from '../../artifacts/dir-store.ts';
import type { IndexEntry } from '../../artifacts/dir-store.ts';
import { type Check, type Manifest, parseManifest } from '../../artifacts/manifest.ts';
import { SignatureError, verifyDetached } from '../../doors/gpg.ts';
import { sha256 } from '../../util/hash.ts';
import { parseElf, vermagicOf } from '../../verify/index.ts';
import { getBlob, getManifest } from './api.ts';
import { RegistryClient, type ClientOptions } from './client.ts';
import { digestOf } from './digest.ts';
import { ImageRefusedError, RegistryError } from './errors.ts';
import { L, PROOF_ARTIFACT, PROOF_DEBUG, PROOF_KEY, PROOF_MANIFEST, PROOF_RECORD, PROOF_SIGNATURE, PROOF_SUFFIX, tagFor } from './image.ts';
import { MAX_PROOF_BYTES, ProofError, type ProofRecord, checkProofFor, parseProof, writeStoredProof } from '../../artifacts/proof-record.ts';
import type { Descriptor } from './image.ts';
import { MAX_LAYER, fileInTar, layerTar, parseImageConfig, parseImageManifest } from './read-image.ts';
import { formatReference, type RegistryRef } from './reference.ts';

export interface PullResult {
  reference: string;
  imageDigest: string;
  entry: IndexEntry;
  /** The checks this pull ran against the family's own sources. */
  checks: Check[];
  /** The key that signed the proof, or undefined when taken unsigned (--allow-unsigned). */
  signedBy?: string;
  /** The proof of loading in its own kernel that came with it (checked and stored), or undefined: unproven. */
  proof?: ProofRecord;
}

/** What a pull trusts, read at the edge. */
export interface PullTrust {
  /** Accept only a proof signed by this OpenPGP key (publish --gpg-key). */
  fingerprint?: string;
  /** Take an image whose proof is not checked against a key. */
  allowUnsigned?: boolean;
  /**
   * The verification a build runs, against the family's own pinned sources (src/builder/reverify.ts):
   * any failed check refuses the image.
   */
  reverify(m: Manifest, ko: Buffer): Promise<Check[]>;
}

/** nbdforge's images have two layers; anything near this is not one of them (and costs a request each). */
export const MAX_LAYERS = 16;
const MAX_SIGNATURE = 64 << 10;

export async function pullArtifact(ref: RegistryRef, store: DirStore, opts: ClientOptions, trust: PullTrust): Promise<PullResult> {
  if (!trust.fingerprint && !trust.allowUnsigned) throw new ImageRefusedError(`${formatReference(ref)}: no key to check the image's proof against: pass --fingerprint FPR (the key publish --gpg-key signed with) or --allow-unsigned; nothing stored`);
  const c = new RegistryClient(ref, opts);
  const where = formatReference(ref);
  const bad: (why: string) => never = (why) => {
    throw new ImageRefusedError(`${where}: ${why}; nothing stored`);
  };
  const img = await getManifest(c, ref.digest ?? ref.tag!);
  const manifest = parseImageManifest(img.body, where);
  // Before any blob is fetched: each layer is a request and up to MAX_LAYER bytes.
  if (manifest.layers.length === 0 || manifest.layers.length > MAX_LAYERS) bad(`the manifest lists ${manifest.layers.length} layers (nbdforge images have 2; at most ${MAX_LAYERS} are read)`);
  const config = parseImageConfig(await getBlob(c, manifest.config.digest, 1 << 20, manifest.config.size), where);
  // Every layer is checked against its diff_id: none may be missing, or the check is skipped.
  if (config.diffIds.length !== manifest.layers.length) bad(`rootfs.diff_ids lists ${config.diffIds.length} digests for ${manifest.layers.length} layers`);
  const lab = config.labels;
  for (const k of [L.kernelRelease, L.module, L.moduleSha256, L.vermagic, L.manifestDigest, L.modulePath])
    if (typeof lab[k] !== 'string' || !lab[k]) bad(`label ${k} missing: not an image nbdforge published`);
  const release = lab[L.kernelRelease];
  if (ref.tag !== undefined && ref.tag !== tagFor(release)) bad(`tag ${ref.tag} is not the image's kernel (label ${L.kernelRelease} is "${release}", tagged ${tagFor(release)})`);
  if (lab[L.modulePath] !== `/opt/lib/modules/${release}/extra/${lab[L.module]}.ko`) bad(`label ${L.modulePath} is "${lab[L.modulePath]}"`);

  // The module lives in the last layer; scan from the top like an overlay would.
  let ko: Buffer | undefined;
  for (let i = manifest.layers.length - 1; i >= 0 && !ko; i--) {
    const l = manifest.layers[i];
    const blob = await getBlob(c, l.digest, MAX_LAYER, l.size);
    ko = await fileInTar(layerTar(blob, l.mediaType, config.diffIds[i], `${where} layer ${l.digest}`), lab[L.modulePath]);
  }
  if (!ko) bad(`no ${lab[L.modulePath]} in any layer`);
  if (sha256(ko) !== lab[L.moduleSha256]) bad(`module sha256 ${sha256(ko)} differs from the label's ${lab[L.moduleSha256]}`);
  const vermagic = vermagicOf(parseElf(ko, lab[L.modulePath])).trim();
  if (vermagic !== lab[L.vermagic]) bad(`module vermagic "${vermagic}" differs from the label's "${lab[L.vermagic]}"`);
  if (vermagic.split(' ')[0] !== release) bad(`module vermagic "${vermagic}" is not for kernel ${release}`);

  const proofTag = `${tagFor(release)}${PROOF_SUFFIX}`;
  const proofRef = await getManifest(c, proofTag).catch((err: RegistryError) => {
    if (err.status === 404) bad(`no proof under tag ${proofTag} (the manifest.json the store needs): re-publish it with nbdforge`);
    throw err;
  });
  const proof = parseImageManifest(proofRef.body, `${where} proof`);
  if (proof.artifactType !== PROOF_ARTIFACT || proof.subject?.digest !== img.digest) bad(`tag ${proofTag} is not the proof of ${img.digest}`);
  const mLayer = proof.layers.find((l) => l.mediaType === PROOF_MANIFEST);
  const dLayer = proof.layers.find((l) => l.mediaType === PROOF_DEBUG);
  if (!mLayer || !dLayer) bad('proof lacks the manifest or the debug module');
  const manifestJson = await getBlob(c, mLayer.digest, 1 << 20, mLayer.size);
  if (digestOf(manifestJson) !== lab[L.manifestDigest]) bad(`artifact manifest is ${digestOf(manifestJson)}, the label says ${lab[L.manifestDigest]}`);
  let signedBy: string | undefined;
  if (trust.fingerprint) {
    const sLayer = proof.layers.find((l) => l.mediaType === PROOF_SIGNATURE);
    const kLayer = proof.layers.find((l) => l.mediaType === PROOF_KEY);
    if (!sLayer || !kLayer) bad(`the proof is not signed (publish it with --gpg-key), and --fingerprint ${trust.fingerprint} asks for a signed one`);
    signedBy = await checkSignature(manifestJson, await getBlob(c, sLayer.digest, MAX_SIGNATURE), await getBlob(c, kLayer.digest, MAX_SIGNATURE), trust.fingerprint, `${where} proof`).catch((err) => {
      if (err instanceof SignatureError) bad(err.message);
      throw err;
    });
  }
  const m = parseManifest(JSON.parse(manifestJson.toString('utf8')), `${where} manifest.json`);
  if (m.sha256 !== lab[L.moduleSha256] || m.kernelRelease !== release || m.module !== lab[L.module] || m.vermagic !== vermagic)
    bad('artifact manifest disagrees with the image labels (sha256, kernel, module or vermagic)');
  const proofRecord = await pulledProof(c, m, proof.layers, lab, bad);
  let debug: Buffer;
  try {
    debug = gunzipSync(await getBlob(c, dLayer.digest, MAX_LAYER, dLayer.size), { maxOutputLength: MAX_LAYER });
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    return bad(`debug module does not gunzip within ${MAX_LAYER} bytes`);
  }


  // Cheap before the container run; put() checks it again under the store's lock.
  const owner = await store.findByKey(m.key);
  if (owner && (owner.family !== m.family || owner.kernelRelease !== m.kernelRelease || owner.module !== m.module))
    bad(`its build key ${m.key.slice(0, 12)} is already the key of ${owner.module} for ${owner.kernelRelease} (${owner.family}) in ${store.root}; one key names one kernel, nothing replaced`);

  // Everything above only shows the image agrees with itself: the registry supplied the module,
  // the labels and the proof. Now the module meets the kernel's own sources.
  const checks = await trust.reverify(m, ko);
  const failed = checks.filter((x) => !x.ok);
  if (failed.length) bad(`${m.module}.ko fails the verification a build runs against the ${m.family} sources of ${release}:\n${failed.map((x) => `  ${x.name}: ${x.detail}`).join('\n')}\n `);
  // The proof goes in with writeStoredProof (proof.json first, then the manifest naming it): the
  // store never holds a manifest naming a proof.json it does not have.
  const { proof: _named, ...unproven } = m;
  const entry = await store.put(unproven, { module: ko, debug });
  if (proofRecord) await writeStoredProof(store.root, entry, proofRecord.record, proofRecord.bytes);
  return { reference: where, imageDigest: img.digest, entry, checks, ...(signedBy ? { signedBy } : {}), ...(proofRecord ? { proof: proofRecord.record } : {}) };
}

/**
 * The proof.json the (signed) artifact manifest names, from the companion: its sha256 must be the
 * manifest's (and the image label's), and it must prove this very module in this kernel. A label
 * naming a proof the manifest does not is refused too: labels are not signed, the manifest is.
 */
async function pulledProof(c: RegistryClient, m: Manifest, layers: Descriptor[], lab: Record<string, string>, bad: (why: string) => never): Promise<{ record: ProofRecord; bytes: Buffer } | undefined> {
  if (!m.proof) {
    if (lab[L.proofSha256] !== undefined || lab[L.proof] !== undefined) bad(`label ${L.proof} names a proof the artifact manifest does not`);
    return undefined;
  }
  if (lab[L.proofSha256] !== m.proof.sha256) bad(`label ${L.proofSha256} differs from the proof sha256 its artifact manifest names`);
  const layer = layers.find((l) => l.mediaType === PROOF_RECORD);
  if (!layer) bad('the artifact manifest names a proof.json the companion does not carry');
  if (layer.size > MAX_PROOF_BYTES) bad(`proof.json is announced as ${layer.size} bytes, more than a proof can be`);
  const bytes = await getBlob(c, layer.digest, MAX_PROOF_BYTES, layer.size);
  if (sha256(bytes) !== m.proof.sha256) bad(`proof.json has sha256 ${sha256(bytes).slice(0, 12)}, its artifact manifest says ${m.proof.sha256.slice(0, 12)} (tampered or damaged)`);
  try {
    const record = parseProof(bytes.toString('utf8'), 'proof.json');
    checkProofFor(record, { kernelRelease: m.kernelRelease, sha256: m.sha256, family: m.family }, 'proof.json');
    return { record, bytes };
  } catch (err) {
    if (err instanceof ProofError) bad(err.message);
    throw err;
  }
}

/** The detached signature of the proof's manifest.json by exactly the pinned key (the key travels in the proof). */
async function checkSignature(data: Buffer, signature: Buffer, key: Buffer, fingerprint: string, what: string): Promise<string> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-pull-key-'));
  try {
    await fs.writeFile(path.join(tmp, 'key.gpg'), key);
    return await verifyDetached({ data, signature, keyFile: path.join(tmp, 'key.gpg'), fingerprint, what });
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}
