/**
 * `--to oci://HOST[:PORT]/REPO`: one image per kernel, tag = kernel release, laid out for KMM.
 * A push sends only blobs the registry lacks (HEAD first), uploads each whole, and tags last, so a
 * push killed midway leaves finished blobs behind and the re-run sends only the rest.
 */
import { createRequire } from 'node:module';
import type { PublishItem, PublishOutcome, PublishProgress, PublishTarget, TargetOptions } from '../target.ts';
import { headManifest, ping, pushBlob, putManifest } from './api.ts';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { baseLayer, buildItem, verifyItem, type ProofSigner } from './build-image.ts';
import { exportPublicKey, signDetached, signingFingerprint } from '../dir/gpg.ts';
import { RegistryClient } from './client.ts';
import { findBusybox } from './contents.ts';
import { DigestCache, depmodVersion, planKey } from './digest-cache.ts';
import { OCI_MANIFEST, PROOF_SUFFIX, tagFor, type Pushable } from './image.ts';
import { sha256 } from '../../util/hash.ts';
import { formatReference, parseReference, ReferenceSyntaxError } from './reference.ts';
import { RegistryError, TargetRefusedError } from './errors.ts';

export function nbdforgeVersion(): string {
  return createRequire(import.meta.url)('../../../package.json').version as string;
}

/** Push one manifest and its blobs unless the registry already has that exact manifest under the tag. */
export async function pushOne(c: RegistryClient, p: Pushable, onBlob?: (digest: string, sent: number) => void): Promise<number> {
  const before = c.bytesSent;
  if ((await headManifest(c, p.tag)) === p.digest) return 0;
  for (const b of p.blobs) {
    const sent = await pushBlob(c, b.digest, b.data);
    onBlob?.(b.digest, sent);
  }
  await putManifest(c, p.tag, p.manifest, OCI_MANIFEST);
  return c.bytesSent - before;
}

export function createTarget(spec: string, opts: TargetOptions): PublishTarget {
  const ref = parseReference(spec, { allowTag: false });
  const client = new RegistryClient(ref, { insecure: opts.insecure, env: opts.env, signal: opts.signal, net: opts.net });
  let fingerprint: string | undefined;
  // --gpg-key signs each proof's manifest.json; pull --fingerprint checks it against the pinned key.
  const signer = (fpr: string): ProofSigner => {
    let publicKey: Promise<Buffer> | undefined;
    return async (manifestJson) => {
      const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-oci-sign-'));
      try {
        await fs.writeFile(path.join(tmp, 'manifest.json'), manifestJson);
        await signDetached(fpr, path.join(tmp, 'manifest.json'), path.join(tmp, 'manifest.json.sig'), opts.env);
        return { signature: await fs.readFile(path.join(tmp, 'manifest.json.sig')), publicKey: await (publicKey ??= exportPublicKey(fpr, opts.env)) };
      } finally {
        await fs.rm(tmp, { recursive: true, force: true });
      }
    };
  };
  return {
    spec: formatReference(ref),
    kind: 'oci',
    async check(items: PublishItem[]) {
      try {
        for (const it of items) parseReference(`${ref.registry}/${ref.repository}:${tagFor(it.entry.kernelRelease)}`, { allowTag: true });
        await findBusybox(opts.env);
        if (opts.gpgKey) fingerprint = await signingFingerprint(opts.gpgKey, opts.env);
        await ping(client);
      } catch (err) {
        // Nothing was sent: the CLI's "refused, nothing touched".
        if (err instanceof RegistryError || err instanceof ReferenceSyntaxError) throw new TargetRefusedError(err.message, (err as RegistryError).status, { cause: err });
        throw err;
      }
    },
    async publish(items: PublishItem[], progress: PublishProgress): Promise<PublishOutcome[]> {
      if (opts.gpgKey && !fingerprint) fingerprint = await signingFingerprint(opts.gpgKey, opts.env);
      const sign = fingerprint ? signer(fingerprint) : undefined;
      const bb = await findBusybox(opts.env);
      const bbSha = sha256(bb.data);
      const depmod = await depmodVersion();
      const version = nbdforgeVersion();
      const cache = DigestCache.in(opts.paths.cache);
      let base: Awaited<ReturnType<typeof baseLayer>> | undefined;
      // Every artifact is re-hashed before the first request: a bad one stops the batch with nothing sent.
      for (const it of items) await verifyItem(it);
      const out: PublishOutcome[] = [];
      for (const it of items) {
        const kernelRelease = it.entry.kernelRelease;
        const key = await planKey(it, bbSha, depmod, version, fingerprint);
        const known = await cache.get(key);
        const tag = tagFor(kernelRelease);
        if (known && (await headManifest(client, tag)) === known.image && (await headManifest(client, `${tag}${PROOF_SUFFIX}`)) === known.proof) {
          out.push({ key: it.entry.key, kernelRelease, ref: known.image, bytesSent: 0 });
          progress({ kernelRelease, stage: 'present', bytes: 0 });
          continue;
        }
        progress({ kernelRelease, stage: 'image' });
        base ??= await baseLayer(bb);
        const built = await buildItem(it, base, bb, version, sign);
        const onBlob = (_d: string, bytes: number) => progress({ kernelRelease, stage: 'blob', bytes });
        let sent = await pushOne(client, built.image, onBlob);
        progress({ kernelRelease, stage: 'proof' });
        sent += await pushOne(client, built.proof, onBlob);
        await cache.set(key, { image: built.image.digest, proof: built.proof.digest });
        out.push({ key: it.entry.key, kernelRelease, ref: built.image.digest, bytesSent: sent });
        progress({ kernelRelease, stage: 'done', bytes: sent });
      }
      return out;
    },
  };
}
