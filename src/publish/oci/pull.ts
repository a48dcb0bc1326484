/**
 * Every request runs under the fetch door's bounds (opts.net): each blob's deadline follows the
 * size its descriptor announces, so the whole pull ends within the sum of its transfers' bounds.
 *
 * `nbdforge pull oci://HOST/REPO:TAG`: fetch an image nbdforge published, prove it is what it
 * claims (manifest and layer digests, the module's sha256 against the label and the manifest, its
 * vermagic read from the ELF), fetch the proof beside it, and store the artifact.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { DirStore } from '../../artifacts/dir-store.ts';
import type { IndexEntry } from '../../artifacts/dir-store.ts';
import { parseManifest } from '../../artifacts/manifest.ts';
import { sha256 } from '../../util/hash.ts';
import { parseElf, vermagicOf } from '../../verify/index.ts';
import { getBlob, getManifest } from './api.ts';
import { RegistryClient, type ClientOptions } from './client.ts';
import { digestOf } from './digest.ts';
import { ImageRefusedError, RegistryError } from './errors.ts';
import { L, PROOF_ARTIFACT, PROOF_DEBUG, PROOF_MANIFEST, PROOF_SUFFIX, tagFor } from './image.ts';
import { MAX_LAYER, fileInTar, layerTar, parseImageConfig, parseImageManifest } from './read-image.ts';
import { formatReference, type RegistryRef } from './reference.ts';

export interface PullResult {
  reference: string;
  imageDigest: string;
  entry: IndexEntry;
}

export async function pullArtifact(ref: RegistryRef, store: DirStore, opts: ClientOptions): Promise<PullResult> {
  const c = new RegistryClient(ref, opts);
  const where = formatReference(ref);
  const bad: (why: string) => never = (why) => {
    throw new ImageRefusedError(`${where}: ${why}; nothing stored`);
  };
  const img = await getManifest(c, ref.digest ?? ref.tag!);
  const manifest = parseImageManifest(img.body, where);
  const config = parseImageConfig(await getBlob(c, manifest.config.digest, 1 << 20, manifest.config.size), where);
  const lab = config.labels;
  for (const k of [L.kernelRelease, L.module, L.moduleSha256, L.vermagic, L.manifestDigest, L.modulePath])
    if (typeof lab[k] !== 'string' || !lab[k]) bad(`label ${k} missing: not an image nbdforge published`);
  const release = lab[L.kernelRelease];
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
  const m = parseManifest(JSON.parse(manifestJson.toString('utf8')), `${where} manifest.json`);
  if (m.sha256 !== lab[L.moduleSha256] || m.kernelRelease !== release || m.module !== lab[L.module] || m.vermagic !== vermagic)
    bad('artifact manifest disagrees with the image labels (sha256, kernel, module or vermagic)');
  let debug: Buffer;
  try {
    debug = gunzipSync(await getBlob(c, dLayer.digest, MAX_LAYER, dLayer.size), { maxOutputLength: MAX_LAYER });
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    return bad(`debug module does not gunzip within ${MAX_LAYER} bytes`);
  }

  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-pull-'));
  try {
    await fs.writeFile(path.join(tmp, 'module'), ko);
    await fs.writeFile(path.join(tmp, 'debug'), debug);
    const entry = await store.put(m, { module: path.join(tmp, 'module'), debug: path.join(tmp, 'debug') });
    return { reference: where, imageDigest: img.digest, entry };
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}
