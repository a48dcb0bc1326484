/**
 * The distribution API calls nbdforge uses, on top of RegistryClient. Uploads are monolithic
 * (POST for a session, then one PUT with the digest): every blob is small, and a blob either
 * lands whole or not at all, which is what makes a killed push resumable by HEAD on re-run.
 */
import { backoff } from '../../fetch/backoff.ts';
import { digestOf } from './digest.ts';
import { RegistryError } from './errors.ts';
import type { RegistryClient } from './client.ts';

export const MANIFEST_ACCEPT = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'].join(', ');
const MAX_MANIFEST = 4 << 20;

export async function ping(c: RegistryClient): Promise<void> {
  const r = await c.send('GET', '/v2/', { retries: 1 });
  if (r.status !== 200) c.fail(`GET /v2/ answered ${r.status}: not an OCI distribution registry?`, r.status);
}

export async function hasBlob(c: RegistryClient, digest: string): Promise<boolean> {
  const r = await c.send('HEAD', `blobs/${digest}`);
  if (r.status === 200) return true;
  if (r.status === 404) return false;
  return c.fail(`HEAD blob ${digest} answered ${r.status}`, r.status);
}

/** Upload one blob unless present; returns the bytes put on the wire for it (0 when skipped). */
export async function pushBlob(c: RegistryClient, digest: string, data: Buffer): Promise<number> {
  if (digestOf(data) !== digest) throw new RegistryError(`internal: blob does not hash to ${digest}`);
  const before = c.bytesSent;
  for (let failures = 0; ; ) {
    if (await hasBlob(c, digest)) return c.bytesSent - before;
    try {
      const post = await c.send('POST', 'blobs/uploads/', { retries: 0 });
      if (post.status !== 202) c.fail(`starting an upload answered ${post.status}: ${post.body.toString('utf8', 0, 300)}`, post.status);
      const loc = post.headers.location;
      if (typeof loc !== 'string') c.fail('upload session without a Location header');
      const url = new URL(loc, c.base);
      url.searchParams.set('digest', digest);
      const put = await c.send('PUT', url.toString(), {
        body: data,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
        retries: 0,
      });
      if (put.status === 201) return c.bytesSent - before;
      c.fail(`uploading ${digest} answered ${put.status}: ${put.body.toString('utf8', 0, 300)}`, put.status);
    } catch (err) {
      // A reset or a 5xx restarts the whole upload (a fresh session); a 4xx is the registry's answer.
      const st = (err as RegistryError).status;
      if (!(err instanceof RegistryError) || (st !== undefined && st < 500) || failures >= 4) throw err;
      await backoff(++failures, { retries: 4, baseDelayMs: 250, maxDelayMs: 4000 });
    }
  }
}

/** Digest of the manifest the registry holds under ref, or undefined. */
export async function headManifest(c: RegistryClient, ref: string): Promise<string | undefined> {
  const r = await c.send('HEAD', `manifests/${ref}`, { headers: { accept: MANIFEST_ACCEPT } });
  if (r.status === 404) return undefined;
  if (r.status !== 200) c.fail(`HEAD manifest ${ref} answered ${r.status}`, r.status);
  const d = r.headers['docker-content-digest'];
  return typeof d === 'string' ? d : undefined;
}

export async function putManifest(c: RegistryClient, ref: string, body: Buffer, mediaType: string): Promise<string> {
  const digest = digestOf(body);
  const r = await c.send('PUT', `manifests/${ref}`, { body, headers: { 'content-type': mediaType } });
  if (r.status !== 201) c.fail(`PUT manifest ${ref} answered ${r.status}: ${r.body.toString('utf8', 0, 400)}`, r.status);
  const said = r.headers['docker-content-digest'];
  if (typeof said === 'string' && said !== digest) c.fail(`registry stored manifest ${ref} as ${said}, we sent ${digest}`);
  return digest;
}

export interface FetchedManifest {
  body: Buffer;
  mediaType: string;
  digest: string;
}

export async function getManifest(c: RegistryClient, ref: string): Promise<FetchedManifest> {
  const r = await c.send('GET', `manifests/${ref}`, { headers: { accept: MANIFEST_ACCEPT }, maxBytes: MAX_MANIFEST });
  if (r.status === 404) c.fail(`no manifest "${ref}" (see the repository's tags: nbdforge kmm-module --image ${c.ref.registry}/${c.ref.repository})`, 404);
  if (r.status !== 200) c.fail(`GET manifest ${ref} answered ${r.status}`, r.status);
  const digest = digestOf(r.body);
  const said = r.headers['docker-content-digest'];
  if (typeof said === 'string' && said !== digest) c.fail(`manifest ${ref}: registry says ${said} but the bytes hash to ${digest}`);
  if (ref.startsWith('sha256:') && ref !== digest) c.fail(`manifest ${ref}: the bytes hash to ${digest}`);
  return { body: r.body, mediaType: String(r.headers['content-type'] ?? '').split(';')[0], digest };
}

/** Fetch a blob, bounded, and refuse it unless its bytes hash to the digest asked for. */
export async function getBlob(c: RegistryClient, digest: string, maxBytes: number, size?: number): Promise<Buffer> {
  if (size !== undefined && size > maxBytes) c.fail(`blob ${digest}: its descriptor says ${size} bytes, more than the ${maxBytes} allowed`);
  const r = await c.send('GET', `blobs/${digest}`, { maxBytes, expectedBytes: size });
  if (r.status !== 200) c.fail(`GET blob ${digest} answered ${r.status}`, r.status);
  const got = digestOf(r.body);
  if (got !== digest) c.fail(`blob ${digest}: the bytes received hash to ${got}`);
  return r.body;
}

export async function listTags(c: RegistryClient): Promise<string[]> {
  const r = await c.send('GET', 'tags/list', { maxBytes: 8 << 20 });
  if (r.status === 404) return [];
  if (r.status !== 200) c.fail(`GET tags/list answered ${r.status}`, r.status);
  const tags = (JSON.parse(r.body.toString('utf8')) as { tags?: unknown }).tags;
  return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [];
}
