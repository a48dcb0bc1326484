import { kmmModule, publishedKernels, publishedProofs } from '../publish/oci/kmm.ts';
import { parseReference } from '../publish/oci/reference.ts';
import { toYaml } from '../publish/oci/yaml.ts';
import { type Command, parse, UsageError } from './context.ts';
import { unseenProblem } from '../util/control-chars.ts';

const usage = `Usage: nbdforge kmm-module --image HOST[:PORT]/REPO [--name nbd] [--namespace NS] [--kernels a,b]
                           [--selector KEY=VALUE] [--module nbd] [--insecure] [--json]

Writes the Kubernetes Kernel Module Management (KMM) Module resource that loads the module from
the images \`nbdforge publish --to oci://HOST/REPO\` pushed: one kernelMapping per published kernel
(read from the repository's tags unless --kernels names them), the image named with KMM's
\${KERNEL_FULL_VERSION} template, modprobe from /opt. YAML on stdout (JSON with --json);
apply it with kubectl apply -f -. Read from the registry, each kernel also gets an annotation
proof.nbdforge.io/<tag>: "proven in <kernel> on <date> key <key12>" (the image's io.nbdforge.proof
label: its module booted and used in its own kernel by nbdforge prove) or "unproven".

Which kernels:
  --image HOST/REPO    the repository the images were published to (no tag)
  --kernels a,b        these kernel releases, without asking the registry
  --insecure           the registry speaks plain http (also sets registryTLS.insecure)
The resource:
  --name N             metadata.name (default nbd)
  --namespace NS       metadata.namespace (default: none, kubectl's current namespace)
  --selector K=V       spec.selector, repeatable (default kubernetes.io/os=linux)
  --module M           modprobe moduleName (default nbd)
  --json               JSON instead of YAML
No value may hold a control character (C0, DEL, C1, U+2028/U+2029) or a bidi control.

Examples:
  nbdforge kmm-module --image 127.0.0.1:5000/nbd --namespace kmm | kubectl apply -f -
      one kernelMapping per kernel the registry holds (its tags)
  nbdforge kmm-module --image registry.example/nbd --kernels 6.1.0-56-amd64,6.1.0-55-amd64 --selector node-role.kubernetes.io/worker=
      two kernels named here, the Module for worker nodes only, no request to the registry
  nbdforge kmm-module --image registry.example/nbd --kernels 3.10.0-1160.119.1.el7.x86_64 --json
      the same resource as JSON

Exit status: 0 written, 1 the registry failed or holds no kernels, 2 usage (a bad reference or
name, a control character in a value), 3 the registry's tags or labels refused (nothing written).`;

const kmm: Command = {
  summary: 'Write the KMM Module resource for a published image repository',
  usage,
  async run(argv, ctx) {
    const { values } = parse(argv, {
      image: { type: 'string' },
      name: { type: 'string', default: 'nbd' },
      namespace: { type: 'string' },
      kernels: { type: 'string' },
      selector: { type: 'string', multiple: true },
      module: { type: 'string', default: 'nbd' },
      insecure: { type: 'boolean', default: false },
    });
    // Before anything else reads them (a reference error would print the value raw to the terminal).
    for (const [flag, v] of Object.entries(values)) {
      for (const one of typeof v === 'string' ? [v] : Array.isArray(v) ? v : []) {
        const problem = unseenProblem(`--${flag}`, one);
        if (problem) throw new UsageError(problem);
      }
    }
    if (!values.image) throw new UsageError(`--image is required\n${usage}`);
    const image = parseReference(values.image, { allowTag: false }); // a bad one exits 2
    const dns = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
    if (!dns.test(values.name!)) throw new UsageError(`--name "${values.name}" is not a Kubernetes object name (lower-case, digits, - and .)`);
    if (values.namespace && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(values.namespace)) throw new UsageError(`--namespace "${values.namespace}" is not a namespace name`);
    const selector: Record<string, string> = {};
    for (const s of values.selector ?? ['kubernetes.io/os=linux']) {
      const eq = s.indexOf('=');
      if (eq <= 0) throw new UsageError(`--selector "${s}": expected KEY=VALUE`);
      selector[s.slice(0, eq)] = s.slice(eq + 1);
    }
    const kernels = values.kernels
      ? values.kernels.split(',').map((k) => k.trim()).filter(Boolean)
      : await publishedKernels(image, { env: ctx.env, insecure: values.insecure });
    if (kernels.length === 0) {
      ctx.stderr.write(`nbdforge kmm-module: no kernels published at ${image.registry}/${image.repository}; run nbdforge publish --to oci://${image.registry}/${image.repository} --gpg-key KEY (or --unsigned) first\n`);
      return 1;
    }
    // Read from the registry, each kernel's Module says what its image's proof label says; named by --kernels, nothing is asked.
    const proofs = values.kernels ? undefined : await publishedProofs(image, { env: ctx.env, insecure: values.insecure }, kernels);
    const resource = kmmModule({ image, name: values.name!, namespace: values.namespace, module: values.module!, kernels, selector, insecure: values.insecure, proofs });
    ctx.stdout.write(values.json ? JSON.stringify(resource, null, 2) + '\n' : `# nbdforge ${ctx.version}: KMM Module for ${kernels.length} kernel(s) at ${image.registry}/${image.repository}\n${toYaml(resource)}`);
    return 0;
  },
};
export default kmm;
