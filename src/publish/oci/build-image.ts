/**
 * One PublishItem -> the image and its proof, entirely in memory (a module is a few hundred KiB,
 * its debug copy a few MiB). Reads only what the item names, after re-checking the module's hash.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { sha256, sha256File } from '../../util/hash.ts';
import { parseElf, vermagicOf } from '../../verify/index.ts';
import type { PublishItem } from '../target.ts';
import { busyboxEntries, moduleTreeEntries, type Busybox } from './contents.ts';
import { digestOf } from './digest.ts';
import { RegistryError, TargetRefusedError } from './errors.ts';
import { L, archOf, moduleImage, proofArtifact, tagFor, type Pushable } from './image.ts';
import { buildLayer, type Layer } from './layer.ts';
import { proofLabel } from '../../artifacts/proof-record.ts';

export interface BuiltItem {
  image: Pushable;
  proof: Pushable;
}

/** The busybox layer is identical for every kernel: build it once per publish. */
export async function baseLayer(bb: Busybox): Promise<Layer> {
  return buildLayer(busyboxEntries(bb));
}

/** The module and its debug copy still hash to what the manifest says. */
export async function verifyItem(item: PublishItem): Promise<void> {
  const m = item.manifest;
  if ((await sha256File(item.modulePath)) !== m.sha256) throw new TargetRefusedError(`${item.modulePath}: sha256 does not match its manifest; refusing to publish (rebuild it)`);
  const debug = path.join(path.dirname(item.manifestPath), m.debugFile);
  if ((await sha256File(debug)) !== m.debugSha256) throw new TargetRefusedError(`${debug}: sha256 does not match its manifest; refusing to publish (rebuild it)`);
}

/** Signs the proof's manifest.json (publish --gpg-key): a detached signature and the public key to check it with. */
export type ProofSigner = (manifestJson: Buffer) => Promise<{ signature: Buffer; publicKey: Buffer }>;

export async function buildItem(item: PublishItem, base: Layer, bb: Busybox, version: string, sign?: ProofSigner): Promise<BuiltItem> {
  const m = item.manifest;
  const ko = await fs.readFile(item.modulePath);
  // The publish command verified this already; the bytes that leave must be the ones proven.
  if (sha256(ko) !== m.sha256) throw new RegistryError(`${item.modulePath}: sha256 does not match its manifest; refusing to publish (rebuild it)`);
  const elf = parseElf(ko, item.modulePath);
  if (vermagicOf(elf).trim() !== m.vermagic) throw new RegistryError(`${item.modulePath}: vermagic "${vermagicOf(elf).trim()}" differs from the manifest's "${m.vermagic}"`);
  if (elf.machine !== bb.machine) throw new RegistryError(`${bb.path} (ELF machine ${bb.machine}) does not match the module (ELF machine ${elf.machine})`);
  const manifestJson = await fs.readFile(item.manifestPath);
  const debug = await fs.readFile(path.join(path.dirname(item.manifestPath), m.debugFile));
  if (sha256(debug) !== m.debugSha256) throw new RegistryError(`${m.debugFile} beside ${item.manifestPath}: sha256 does not match its manifest`);

  const tag = tagFor(m.kernelRelease);
  const moduleLayer = await buildLayer(await moduleTreeEntries(m.kernelRelease, m.module, ko));
  const labels = {
    [L.kernelRelease]: m.kernelRelease,
    [L.module]: m.module,
    [L.modulePath]: `/opt/lib/modules/${m.kernelRelease}/extra/${m.module}.ko`,
    [L.moduleSha256]: m.sha256,
    [L.vermagic]: m.vermagic,
    [L.key]: m.key,
    [L.manifestDigest]: digestOf(manifestJson),
    [L.version]: version,
    'org.opencontainers.image.title': `${m.module}.ko for ${m.kernelRelease}`,
    'org.opencontainers.image.version': m.kernelRelease,
    ...(item.proof ? { [L.proof]: proofLabel(item.proof.record), [L.proofSha256]: item.proof.sha256 } : {}),
  };
  const image = moduleImage({ tag, arch: archOf(elf.machine), created: m.createdAt, labels, layers: [base, moduleLayer] });
  const signed = sign ? await sign(manifestJson) : undefined;
  if (item.proof && sha256(item.proof.bytes) !== JSON.parse(manifestJson.toString('utf8')).proof?.sha256) throw new RegistryError(`${item.manifestPath}: does not name the proof.json beside it; refusing to publish`);
  const proof = proofArtifact({ tag, subject: image, manifestJson, debug, debugName: m.debugFile, created: m.createdAt, ...(item.proof ? { proofJson: item.proof.bytes } : {}), ...(signed ? { signed } : {}) });
  return { image, proof };
}
