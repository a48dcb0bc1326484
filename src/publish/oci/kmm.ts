/**
 * The KMM `Module` resource for an image repository nbdforge published to: one literal
 * kernelMapping per published kernel, the image named by KMM's `${KERNEL_FULL_VERSION}` template
 * (tag = kernel release), modprobe of the module from /opt, where the image keeps it.
 */
import { getBlob, getManifest, listTags } from './api.ts';
import { RegistryClient, type ClientOptions } from './client.ts';
import { L, PROOF_SUFFIX, tagFor } from './image.ts';
import { parseImageConfig, parseImageManifest } from './read-image.ts';
import { baseUrl, TAG, type RegistryRef } from './reference.ts';
import type { YamlValue } from './yaml.ts';
import { ImageRefusedError } from './errors.ts';
import { unseenProblem, visible } from '../../util/control-chars.ts';
import { NbdforgeError } from '../../errors.ts';

/** A value the Module resource cannot carry as written: the CLI's exit 2. */
export class KmmValueError extends NbdforgeError {
  override name = 'KmmValueError';
  override readonly exitCode = 2;
}

export interface KmmOptions {
  image: RegistryRef;
  name: string;
  namespace?: string;
  module: string;
  kernels: string[];
  selector: Record<string, string>;
  insecure?: boolean;
  /** Per kernel, what its image's io.nbdforge.proof label says ('unproven' without one): metadata.annotations. */
  proofs?: Record<string, string>;
}

/** The annotation naming one kernel's proof: proof.nbdforge.io/<image tag>. */
export const proofAnnotation = (kernelRelease: string) => `proof.nbdforge.io/${tagFor(kernelRelease)}`;

/** Every string that reaches the resource, named as the CLI names it. */
function kmmValues(o: KmmOptions): Array<[string, string]> {
  return [
    ['--image', `${o.image.registry}/${o.image.repository}`],
    ['--name', o.name],
    ...(o.namespace === undefined ? [] : [['--namespace', o.namespace] as [string, string]]),
    ['--module', o.module],
    ...o.kernels.map((k) => ['kernel release', k] as [string, string]),
    ...Object.entries(o.selector).flatMap(([k, v]) => [['--selector key', k], ['--selector value', v]] as Array<[string, string]>),
  ];
}

// Kubernetes label syntax (a selector Kubernetes would refuse on apply is refused here, named).
const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$/;

function syntaxProblem(o: KmmOptions): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,55}$/.test(o.module)) return `--module ${visible(o.module)} is not a kernel module name (letters, digits, _ and -)`;
  for (const k of o.kernels) {
    if (!TAG.test(tagFor(k))) return `kernel release ${visible(k)}: its image tag ${visible(tagFor(k))} would not be a tag (letters, digits, . _ - and +)`;
    if (o.proofs && !(tagFor(k) && LABEL_VALUE.test(tagFor(k)))) return `kernel release ${visible(k)}: its proof annotation key would not be a Kubernetes annotation name (at most 63 characters)`;
  }
  for (const [key, value] of Object.entries(o.selector)) {
    const slash = key.indexOf('/');
    const name = key.slice(slash + 1);
    if ((slash >= 0 && !DNS_SUBDOMAIN.test(key.slice(0, slash))) || !name || !LABEL_VALUE.test(name)) return `--selector key ${visible(key)} is not a Kubernetes label key ([prefix/]name)`;
    if (!LABEL_VALUE.test(value)) return `--selector value ${visible(value)} for ${key} is not a Kubernetes label value (at most 63 of letters, digits, - _ .; empty is allowed)`;
  }
  return undefined;
}

export function kmmModule(o: KmmOptions): YamlValue {
  for (const [what, v] of kmmValues(o)) {
    const problem = unseenProblem(what, v);
    if (problem) throw new KmmValueError(problem);
  }
  const problem = syntaxProblem(o);
  if (problem) throw new KmmValueError(problem);
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
    metadata: {
      name: o.name,
      ...(o.namespace ? { namespace: o.namespace } : {}),
      ...(o.proofs ? { annotations: Object.fromEntries(o.kernels.map((k) => [proofAnnotation(k), o.proofs![k] ?? 'unproven'])) } : {}),
    },
    spec: { moduleLoader: { container }, selector: o.selector },
  };
}

/** proofLabel's form (src/artifacts/proof-record.ts): what a label may say before it reaches the resource. */
const PROOF_LABEL = /^proven in [A-Za-z0-9._+~-]{1,128} on \d{4}-\d\d-\d\d key [0-9a-f]{12}$/;

/**
 * What each kernel's image says about its proof (label io.nbdforge.proof; not signed: the proof
 * itself travels in the signed companion, which pull checks). A label not of proofLabel's form is
 * refused, never written into the resource.
 */
export async function publishedProofs(ref: RegistryRef, opts: ClientOptions, kernels: string[]): Promise<Record<string, string>> {
  const c = new RegistryClient(ref, opts);
  const out: Record<string, string> = {};
  for (const k of kernels) {
    const m = parseImageManifest((await getManifest(c, tagFor(k))).body, `${c.name}:${tagFor(k)}`);
    const label = parseImageConfig(await getBlob(c, m.config.digest, 1 << 20), `${c.name}:${tagFor(k)}`).labels[L.proof];
    if (label === undefined) continue;
    if (!PROOF_LABEL.test(label) || !label.startsWith(`proven in ${k} `)) throw new ImageRefusedError(`${c.name}:${tagFor(k)}: label ${L.proof} is not a proof of ${k}; no Module written`);
    out[k] = label;
  }
  return out;
}

/** Kernel releases published to a repository: its tags minus the proofs, releases read from labels when a tag had to be rewritten. */
export async function publishedKernels(ref: RegistryRef, opts: ClientOptions): Promise<string[]> {
  const c = new RegistryClient(ref, opts);
  const out: string[] = [];
  const refuse = (why: string): never => {
    throw new ImageRefusedError(`${c.name}: ${why}; no Module written`);
  };
  for (const tag of (await listTags(c)).filter((t) => !t.endsWith(PROOF_SUFFIX)).sort()) {
    // The registry's answer is not ours: a tag outside the distribution grammar never reaches the YAML.
    if (!TAG.test(tag)) refuse(`the tag list holds ${visible(tag)}, which is not a tag`);
    if (!tag.includes('_')) {
      out.push(tag);
      continue;
    }
    const m = parseImageManifest((await getManifest(c, tag)).body, `${c.name}:${tag}`);
    const release = parseImageConfig(await getBlob(c, m.config.digest, 1 << 20), `${c.name}:${tag}`).labels[L.kernelRelease];
    const problem = release && unseenProblem(`the kernel-release label of tag ${tag}`, release);
    if (problem) refuse(problem);
    if (release && !TAG.test(tagFor(release))) refuse(`the kernel-release label of tag ${tag}, ${visible(release)}, is not a kernel release`);
    if (release) out.push(release);
  }
  return out;
}
