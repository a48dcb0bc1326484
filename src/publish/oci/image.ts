/**
 * The image KMM loads, and the proof that travels beside it. The image: a busybox layer (the same
 * bytes for every kernel, so the registry stores it once) and a module layer under /opt. The proof
 * (tag "<tag>.nbdforge", `subject` = the image) carries the artifact's manifest.json and debug
 * module, so `nbdforge pull` can restore a complete store entry and re-check it; and, when the
 * artifact was proven in its own kernel (nbdforge prove), its proof.json, which the image's
 * io.nbdforge.proof labels name.
 */
import { gzipSync } from 'node:zlib';
import { digestOf } from './digest.ts';
import type { Layer } from './layer.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const PROOF_ARTIFACT = 'application/vnd.nbdforge.artifact.v1';
export const PROOF_MANIFEST = 'application/vnd.nbdforge.manifest.v1+json';
export const PROOF_DEBUG = 'application/vnd.nbdforge.module-debug.v1+gzip';
export const PROOF_SUFFIX = '.nbdforge';
/** proof.json (src/artifacts/proof-record.ts): the module booted and used in its own kernel. */
export const PROOF_RECORD = 'application/vnd.nbdforge.proof.v1+json';
/** With publish --gpg-key: a detached OpenPGP signature of the proof's manifest.json, and the public key. */
export const PROOF_SIGNATURE = 'application/vnd.nbdforge.manifest-signature.v1+pgp';
export const PROOF_KEY = 'application/vnd.nbdforge.public-key.v1+pgp';

export const L = {
  kernelRelease: 'io.nbdforge.kernel-release',
  module: 'io.nbdforge.module',
  moduleSha256: 'io.nbdforge.module-sha256',
  vermagic: 'io.nbdforge.vermagic',
  version: 'io.nbdforge.version',
  manifestDigest: 'io.nbdforge.artifact-manifest-digest',
  key: 'io.nbdforge.build-key',
  modulePath: 'io.nbdforge.module-path',
  /** Only on proven artifacts: proofLabel ("proven in K on D key K12") and proof.json's sha256. */
  proof: 'io.nbdforge.proof',
  proofSha256: 'io.nbdforge.proof-sha256',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** A manifest ready to push: the blobs it needs and its own bytes. */
export interface Pushable {
  tag: string;
  blobs: Array<{ digest: string; data: Buffer }>;
  manifest: Buffer;
  digest: string;
}

/** Docker tags allow [A-Za-z0-9_.-]: Debian's "6.12.107+deb12-amd64" becomes "6.12.107_deb12-amd64". */
export function tagFor(kernelRelease: string): string {
  return kernelRelease.replace(/\+/g, '_');
}

const GOARCH: Record<number, string> = { 62: 'amd64', 183: 'arm64', 3: '386', 40: 'arm', 21: 'ppc64le', 22: 's390x' };
export function archOf(machine: number): string {
  const a = GOARCH[machine];
  if (!a) throw new Error(`ELF machine ${machine} has no OCI architecture name known to nbdforge`);
  return a;
}

const desc = (mediaType: string, data: Buffer, annotations?: Record<string, string>): Descriptor => ({
  mediaType,
  digest: digestOf(data),
  size: data.length,
  ...(annotations ? { annotations } : {}),
});

export function moduleImage(o: { tag: string; arch: string; created: string; labels: Record<string, string>; layers: Layer[] }): Pushable {
  const config = Buffer.from(
    JSON.stringify({
      created: o.created,
      architecture: o.arch,
      os: 'linux',
      config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'], Labels: o.labels },
      rootfs: { type: 'layers', diff_ids: o.layers.map((l) => l.diffId) },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: desc(OCI_CONFIG, config),
      layers: o.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.blob.length })),
      annotations: { 'org.opencontainers.image.created': o.created, ...o.labels },
    }),
  );
  return {
    tag: o.tag,
    blobs: [...o.layers.map((l) => ({ digest: l.digest, data: l.blob })), { digest: digestOf(config), data: config }],
    manifest,
    digest: digestOf(manifest),
  };
}

export function proofArtifact(o: {
  tag: string;
  subject: Pushable;
  manifestJson: Buffer;
  debug: Buffer;
  debugName: string;
  created: string;
  proofJson?: Buffer;
  signed?: { signature: Buffer; publicKey: Buffer };
}): Pushable {
  const empty = Buffer.from('{}');
  // DWARF compresses about 4:1; level fixed so the blob, like the layers, is the same on every run.
  const debugGz = gzipSync(o.debug, { level: 6 });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: PROOF_ARTIFACT,
      config: desc(OCI_EMPTY, empty),
      layers: [
        desc(PROOF_MANIFEST, o.manifestJson, { 'org.opencontainers.image.title': 'manifest.json' }),
        desc(PROOF_DEBUG, debugGz, { 'org.opencontainers.image.title': o.debugName }),
        ...(o.proofJson ? [desc(PROOF_RECORD, o.proofJson, { 'org.opencontainers.image.title': 'proof.json' })] : []),
        ...(o.signed
          ? [desc(PROOF_SIGNATURE, o.signed.signature, { 'org.opencontainers.image.title': 'manifest.json.sig' }), desc(PROOF_KEY, o.signed.publicKey, { 'org.opencontainers.image.title': 'key.gpg' })]
          : []),
      ],
      subject: { mediaType: OCI_MANIFEST, digest: o.subject.digest, size: o.subject.manifest.length },
      annotations: { 'org.opencontainers.image.created': o.created },
    }),
  );
  return {
    tag: `${o.tag}${PROOF_SUFFIX}`,
    blobs: [empty, o.manifestJson, debugGz, ...(o.proofJson ? [o.proofJson] : []), ...(o.signed ? [o.signed.signature, o.signed.publicKey] : [])].map((data) => ({ digest: digestOf(data), data })),
    manifest,
    digest: digestOf(manifest),
  };
}
