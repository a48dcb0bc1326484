/**
 * Registry references as users write them: `oci://HOST[:PORT]/REPO[:TAG|@sha256:...]` for publish
 * and pull, `HOST[:PORT]/REPO` for kmm-module. Parsed once at the edge into one shape; the scheme
 * (http or https) is decided here too, because plain http is only safe on a loopback address.
 */
import net from 'node:net';
import { NbdforgeError } from '../../errors.ts';

export class ReferenceSyntaxError extends NbdforgeError {
  override name = 'ReferenceSyntaxError';
  /** The CLI contract: 2 = the user's input. */
  override readonly exitCode = 2;
}

export interface RegistryRef {
  /** host[:port] as written (lower-cased), the key for docker config credentials. */
  registry: string;
  host: string;
  repository: string;
  tag?: string;
  digest?: string;
}

// The distribution spec's grammar: path components of lower-case alphanumerics and separators.
const REPO = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
export const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const HOSTPORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/;

/** Parse `oci://...` (the prefix is optional) into its parts; `wantTag` requires a tag or digest. */
export function parseReference(text: string, opts: { allowTag: boolean; requireTag?: boolean }): RegistryRef {
  const bad = (why: string): never => {
    throw new ReferenceSyntaxError(`bad registry reference "${text}": ${why} (expected oci://HOST[:PORT]/REPO${opts.allowTag ? '[:TAG]' : ''})`);
  };
  let rest = text.startsWith('oci://') ? text.slice(6) : text;
  if (rest.includes('@') && !rest.includes('@sha256:')) bad('credentials do not belong in the reference; use NBDFORGE_REGISTRY_USERNAME/PASSWORD or a docker config');
  const slash = rest.indexOf('/');
  if (slash <= 0) bad('no repository');
  const registry = rest.slice(0, slash).toLowerCase();
  const m = HOSTPORT.exec(registry);
  if (!m || (m[2] && Number(m[2]) > 65535)) bad(`"${registry}" is not HOST[:PORT]`);
  rest = rest.slice(slash + 1);
  let tag: string | undefined;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) bad(`"${digest}" is not a sha256 digest`);
  }
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) bad(`"${tag}" is not a valid tag`);
  }
  if (!REPO.test(rest)) bad(`"${rest}" is not a valid repository name (lower-case, digits, . _ - /)`);
  if ((tag || digest) && !opts.allowTag) bad('no tag here: the tag is the kernel release');
  if (opts.requireTag && !tag && !digest) bad('name the image: REPO:TAG (the tag is the kernel release)');
  return { registry, host: m![1].replace(/^\[|\]$/g, ''), repository: rest, tag, digest };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return host === '::1';
}

/** http for loopback registries (or with --insecure), https everywhere else. */
export function baseUrl(ref: RegistryRef, insecure = false): string {
  return `${isLoopback(ref.host) || insecure ? 'http' : 'https'}://${ref.registry}`;
}

export function formatReference(ref: RegistryRef): string {
  return `oci://${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}
