import { DirStore } from '../artifacts/dir-store.ts';
import type { Manifest } from '../artifacts/manifest.ts';
import { reverifyModule } from '../builder/reverify.ts';
import { UnknownFamilyError, UnknownKernelError } from '../families/family.ts';
import { getFamily } from '../families/index.ts';
import { ImageRefusedError } from '../publish/oci/errors.ts';
import { pullArtifact } from '../publish/oci/pull.ts';
import { parseReference } from '../publish/oci/reference.ts';
import { normalizeFingerprint } from '../doors/gpg.ts';
import { type Command, parse, pathsFrom, UsageError } from './context.ts';
import { openSession } from './session.ts';
import { proofLine } from '../artifacts/proof-record.ts';
import { netOptionsFrom, timeoutHelp, timeoutOption } from './net-options.ts';

const usage = `Usage: nbdforge pull oci://HOST[:PORT]/REPO:TAG (--fingerprint FPR | --allow-unsigned)
                    [--insecure] [--store DIR] [--timeout S] [--json]

Fetches a module image nbdforge published (the tag is the kernel release), verifies it and stores
it. First that the image agrees with itself: the manifest and every layer hash to their digests
and diff_ids (at most 16 layers), the tag is the image's kernel-release label, the module hashes
to the sha256 in the labels and in the artifact manifest carried beside the image (tag
TAG.nbdforge), whose signature must be by the key --fingerprint names. Then what a build checks,
never believing the image: the family's own build recipe runs against its pinned sources (Docker
is needed, as for a build) and the module's vermagic must be the one the kernel's .config gives,
every CRC the one in its Module.symvers, and where the distribution ships the module (debian12)
its sections byte for byte those of the distribution's own. A module filed under a build key the
store gives to another kernel is refused. When the artifact manifest names a proof (proof.json:
the module booted and used in its own kernel by nbdforge prove), the companion must carry it with
that sha256 (and the image's io.nbdforge.proof-sha256 label must agree), and it must prove this
module's sha256 in this kernel; a mismatched proof refuses the image (exit 3); a good one is stored
beside the module. Nothing is stored unless every check passes.
Exit codes: 0 stored, 1 registry unreachable, refusing or too slow (a bound below ended a transfer),
2 usage, 3 image refused (nothing stored).

Options:
  --fingerprint FPR  accept only an image whose proof is signed by this OpenPGP key
                     (publish --to oci://... --gpg-key KEY signs it)
  --allow-unsigned   take an image without checking who published it (still re-verified)
  --insecure         plain http to a registry that is not on a loopback address
  --store DIR        artifact store (default $NBDFORGE_HOME/store)
${timeoutHelp(19)}
  --json             machine-readable result on stdout
Credentials: NBDFORGE_REGISTRY_USERNAME / NBDFORGE_REGISTRY_PASSWORD, or the registry's entry in
the docker config (~/.docker/config.json or $DOCKER_CONFIG).

Examples:
  nbdforge pull oci://127.0.0.1:5000/nbd:6.1.0-57-amd64 --fingerprint FPR
  nbdforge pull oci://127.0.0.1:5000/nbd:6.1.0-57-amd64 --allow-unsigned --json`;

const pull: Command = {
  summary: 'Fetch a published module image, verify it and store the artifact',
  usage,
  async run(argv, ctx) {
    const { values, positionals } = parse(
      argv,
      { insecure: { type: 'boolean', default: false }, fingerprint: { type: 'string' }, 'allow-unsigned': { type: 'boolean', default: false }, ...timeoutOption },
      true,
    );
    if (positionals.length !== 1) throw new UsageError(`name one image\n${usage}`);
    if (values.fingerprint === undefined && !values['allow-unsigned'])
      throw new UsageError('pass --fingerprint FPR (the key publish --gpg-key signed the image with), or --allow-unsigned to take an image nobody vouches for');
    if (values.fingerprint !== undefined && values['allow-unsigned']) throw new UsageError('use --fingerprint or --allow-unsigned, not both');
    // checked here: normalizeFingerprint's own error is a SignatureError (failed work, for a fingerprint read from a file)
    if (values.fingerprint !== undefined && !/^[0-9A-Fa-f]{40}$/.test(values.fingerprint.replace(/\s+/g, '')))
      throw new UsageError(`--fingerprint: not an OpenPGP v4 fingerprint: ${JSON.stringify(values.fingerprint)}`);
    const fingerprint = values.fingerprint === undefined ? undefined : normalizeFingerprint(values.fingerprint);
    // A bad reference exits 2, a refused image 3 (their errors carry exitCode), no registry 1.
    const net = netOptionsFrom(values, ctx);
    const ref = parseReference(positionals[0], { allowTag: true, requireTag: true });
    const paths = pathsFrom(values, ctx.env);
    const store = new DirStore(paths.store);
    const t0 = Date.now();
    let session: Awaited<ReturnType<typeof openSession>> | undefined;
    const reverify = async (m: Manifest, ko: Buffer) => {
      try {
        const family = getFamily(m.family, ctx.env);
        session ??= await openSession(paths, ctx.env, values.json ? undefined : (l) => ctx.stderr.write(`  ${l}\n`));
        return (await reverifyModule(session, { family, kernelRelease: m.kernelRelease, module: m.module, ko })).checks;
      } catch (err) {
        // The image names a family or kernel nbdforge cannot build: then it cannot be verified either.
        if (err instanceof UnknownFamilyError || err instanceof UnknownKernelError)
          throw new ImageRefusedError(`${positionals[0]}: ${err.message}: it cannot be verified against its family's sources; nothing stored`);
        throw err;
      }
    };
    try {
      const r = await pullArtifact(ref, store, { env: ctx.env, insecure: values.insecure, net }, { fingerprint, allowUnsigned: values['allow-unsigned'], reverify });
      const e = r.entry;
      if (values.json) {
        const proof = r.proof ? { line: proofLine(r.proof), key: r.proof.key, kernelRelease: r.proof.kernelRelease, date: r.proof.date } : null;
        ctx.stdout.write(JSON.stringify({ reference: r.reference, imageDigest: r.imageDigest, signedBy: r.signedBy ?? null, checks: r.checks, proven: !!r.proof, proof, stored: e, store: store.root }, null, 2) + '\n');
      } else {
        ctx.stdout.write(
          `${r.reference} (${r.imageDigest})\n` +
            `  verified: manifest, layer digests and diff_ids, module sha256 ${e.sha256.slice(0, 12)}, vermagic "${e.vermagic}"\n` +
            `  proof: ${r.signedBy ? `signed by ${r.signedBy}` : 'NOT checked against a key (--allow-unsigned)'}\n` +
            `  re-verified against the ${e.family} sources of ${e.kernelRelease}: ${r.checks.map((c) => `${c.name}:ok`).join(' ')}\n` +
            `  loaded in its own kernel: ${r.proof ? `${proofLine(r.proof)} (proof.json checked against the manifest and the module, stored)` : 'not proven (no proof.json came with it)'}\n` +
            `  stored: ${store.artifactPath(e)} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
        );
      }
      return 0;
    } finally {
      session?.close();
    }
  },
};
export default pull;
