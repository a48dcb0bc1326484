/**
 * Reading an image back, every byte untrusted: bounded JSON with the fields we use checked, layers
 * gunzipped with a ceiling, diff_ids compared, and one named file pulled out of a layer's tar.
 */
import { gunzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { digestOf } from './digest.ts';
import { RegistryError } from './errors.ts';
import type { Descriptor } from './image.ts';

const DIGEST = /^sha256:[0-9a-f]{64}$/;
export const MAX_LAYER = 64 << 20;

export interface ImageManifest {
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
}

function descriptor(v: unknown, where: string): Descriptor {
  const d = v as Record<string, unknown>;
  if (!d || typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || !DIGEST.test(d.digest) || typeof d.size !== 'number' || d.size < 0)
    throw new RegistryError(`${where}: not a descriptor {mediaType, digest sha256:..., size}`);
  const ann = d.annotations && typeof d.annotations === 'object' ? (d.annotations as Record<string, string>) : undefined;
  return { mediaType: d.mediaType, digest: d.digest, size: d.size, ...(ann ? { annotations: ann } : {}) };
}

export function parseImageManifest(body: Buffer, where: string): ImageManifest {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(body.toString('utf8'));
  } catch {
    throw new RegistryError(`${where}: manifest is not JSON`);
  }
  if (m?.schemaVersion !== 2 || !Array.isArray(m.layers)) throw new RegistryError(`${where}: not an image manifest (schemaVersion 2 with layers)`);
  return {
    config: descriptor(m.config, `${where} config`),
    layers: m.layers.map((l, i) => descriptor(l, `${where} layers[${i}]`)),
    subject: m.subject ? descriptor(m.subject, `${where} subject`) : undefined,
    artifactType: typeof m.artifactType === 'string' ? m.artifactType : undefined,
  };
}

export interface ImageConfig {
  labels: Record<string, string>;
  diffIds: string[];
}

export function parseImageConfig(body: Buffer, where: string): ImageConfig {
  let c: { config?: { Labels?: unknown }; rootfs?: { diff_ids?: unknown } };
  try {
    c = JSON.parse(body.toString('utf8'));
  } catch {
    throw new RegistryError(`${where}: image config is not JSON`);
  }
  const labels = c?.config?.Labels;
  const diffIds = c?.rootfs?.diff_ids;
  if (!labels || typeof labels !== 'object') throw new RegistryError(`${where}: image config has no labels: not an nbdforge image`);
  if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string')) throw new RegistryError(`${where}: image config has no rootfs.diff_ids`);
  return { labels: labels as Record<string, string>, diffIds };
}

/** Uncompress a layer (gzip or plain tar), check it against its diff_id, and return the tar bytes. */
export function layerTar(blob: Buffer, mediaType: string, diffId: string, where: string): Buffer {
  let tarBytes: Buffer;
  try {
    tarBytes = mediaType.endsWith('+gzip') ? gunzipSync(blob, { maxOutputLength: MAX_LAYER }) : blob;
  } catch (err) {
    throw new RegistryError(`${where}: layer does not gunzip within ${MAX_LAYER} bytes: ${(err as Error).message}`);
  }
  if (digestOf(tarBytes) !== diffId) throw new RegistryError(`${where}: uncompressed layer does not match its diff_id ${diffId}`);
  return tarBytes;
}

/** The bytes of one regular file in a tar (names compared without a leading "./" or "/"). */
export async function fileInTar(tarBytes: Buffer, name: string): Promise<Buffer | undefined> {
  const want = name.replace(/^\.?\//, '');
  const ex = tar.extract();
  let found: Buffer | undefined;
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const n = header.name.replace(/^\.?\//, '');
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        if (n === want && header.type === 'file') chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        if (n === want && header.type === 'file') found = Buffer.concat(chunks);
        next();
      });
      stream.resume();
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(tarBytes);
  await done;
  return found;
}
