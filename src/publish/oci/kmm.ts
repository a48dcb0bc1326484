/**
 * The KMM `Module` resource for an image repository nbdforge published to: one literal
 * kernelMapping per published kernel, the image named by KMM's `${KERNEL_FULL_VERSION}` template
 * (tag = kernel release), modprobe of the module from /opt, where the image keeps it.
 */
import { getBlob, getManifest, listTags } from './api.ts';
import { RegistryClient, type ClientOptions } from './client.ts';
import { L, PROOF_SUFFIX, tagFor } from './image.ts';
import { parseImageConfig, parseImageManifest } from './read-image.ts';
import { baseUrl, type RegistryRef } from './reference.ts';
import type { YamlValue } from './yaml.ts';

export interface KmmOptions {
  image: RegistryRef;
  name: string;
  namespace?: string;
  module: string;
  kernels: string[];
  selector: Record<string, string>;
  insecure?: boolean;
}

export function kmmModule(o: KmmOptions): YamlValue {
  const repo = `${o.image.registry}/${o.image.repository}`;
  const kernelMappings = o.kernels.map((k) => ({
    literal: k,
    // The template only works when the tag is the release itself ("+" is not allowed in a tag).
    containerImage: tagFor(k) === k ? `${repo}:\${KERNEL_FULL_VERSION}` : `${repo}:${tagFor(k)}`,
  }));
  const container: Record<string, YamlValue> = { modprobe: { moduleName: o.module, dirName: '/opt' }, kernelMappings };
  if (baseUrl(o.image, o.insecure).startsWith('http:')) container.registryTLS = { insecure: true };
  return {
    apiVersion: 'kmm.sigs.x-k8s.io/v1beta1',
    kind: 'Module',
    metadata: { name: o.name, ...(o.namespace ? { namespace: o.namespace } : {}) },
    spec: { moduleLoader: { container }, selector: o.selector },
  };
}

/** Kernel releases published to a repository: its tags minus the proofs, releases read from labels when a tag had to be rewritten. */
export async function publishedKernels(ref: RegistryRef, opts: ClientOptions): Promise<string[]> {
  const c = new RegistryClient(ref, opts);
  const out: string[] = [];
  for (const tag of (await listTags(c)).filter((t) => !t.endsWith(PROOF_SUFFIX)).sort()) {
    if (!tag.includes('_')) {
      out.push(tag);
      continue;
    }
    const m = parseImageManifest((await getManifest(c, tag)).body, `${c.name}:${tag}`);
    const release = parseImageConfig(await getBlob(c, m.config.digest, 1 << 20), `${c.name}:${tag}`).labels[L.kernelRelease];
    if (release) out.push(release);
  }
  return out;
}
