import { DirStore } from '../artifacts/dir-store.ts';
import { pullArtifact } from '../publish/oci/pull.ts';
import { parseReference } from '../publish/oci/reference.ts';
import { type Command, parse, pathsFrom, UsageError } from './context.ts';
import { netOptionsFrom, timeoutHelp, timeoutOption } from './net-options.ts';

const usage = `Usage: nbdforge pull oci://HOST[:PORT]/REPO:TAG [--insecure] [--store DIR] [--timeout S] [--json]

Fetches a module image nbdforge published (the tag is the kernel release), verifies it and stores
it: the manifest and every layer must hash to their digests, the module must hash to the sha256 in
the image's labels and in the artifact manifest carried beside the image (tag TAG.nbdforge), and
its vermagic, read from the ELF, must name the kernel. Nothing is stored unless every check passes.
Exit codes: 0 stored, 1 registry unreachable, refusing or too slow (a bound below ended a transfer),
2 usage, 3 image refused (nothing stored).

Options:
  --insecure   plain http to a registry that is not on a loopback address
  --store DIR  artifact store (default $NBDFORGE_HOME/store)
${timeoutHelp(15)}
  --json       machine-readable result on stdout
Credentials: NBDFORGE_REGISTRY_USERNAME / NBDFORGE_REGISTRY_PASSWORD, or the registry's entry in
the docker config (~/.docker/config.json or $DOCKER_CONFIG).`;

const pull: Command = {
  summary: 'Fetch a published module image, verify it and store the artifact',
  usage,
  async run(argv, ctx) {
    const { values, positionals } = parse(argv, { insecure: { type: 'boolean', default: false }, ...timeoutOption }, true);
    if (positionals.length !== 1) throw new UsageError(`name one image\n${usage}`);
    // A bad reference exits 2, a refused image 3 (their errors carry exitCode), no registry 1.
    const net = netOptionsFrom(values, ctx);
    const ref = parseReference(positionals[0], { allowTag: true, requireTag: true });
    const store = new DirStore(pathsFrom(values, ctx.env).store);
    const t0 = Date.now();
    const r = await pullArtifact(ref, store, { env: ctx.env, insecure: values.insecure, net });
    const e = r.entry;
    if (values.json) {
      ctx.stdout.write(JSON.stringify({ reference: r.reference, imageDigest: r.imageDigest, stored: e, store: store.root }, null, 2) + '\n');
    } else {
      ctx.stdout.write(
        `${r.reference} (${r.imageDigest})\n` +
          `  verified: manifest and layer digests, module sha256 ${e.sha256.slice(0, 12)}, vermagic "${e.vermagic}"\n` +
          `  stored: ${store.artifactPath(e)} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
      );
    }
    return 0;
  },
};
export default pull;
