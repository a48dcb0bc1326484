#!/usr/bin/env tsx
/**
 * The oci target against the standard client: every debian12 nbd artifact in a store pushed by
 * nbdforge, and the same images copied by skopeo from an OCI layout, each into a fresh Debian
 * docker-registry on 127.0.0.1 behind a counting relay (bytes are what crossed the wire). Then the
 * same again (re-publish / re-copy). Writes the bench:publish-oci section of docs/BENCHMARKS.md.
 *   npm run bench -- publish-oci [--store DIR] [--no-write]
 */
import { $, fs, os, path } from 'zx';
import { resolvePaths } from '../src/paths.ts';
import { createTarget } from '../src/publish/oci/index.ts';
import { itemsFrom, startRegistry } from '../test/docker/oci-registry.ts';
import { startProxy, type Seen } from '../test/docker/oci-proxy.ts';

const args = process.argv.slice(2);
const storeArg = args.indexOf('--store');
const STORE = storeArg >= 0 ? args[storeArg + 1] : path.join(resolvePaths(process.env).home, 'test-oci', 'store');
const items = (await itemsFrom(STORE)).filter((i) => i.entry.family === 'debian12');
if (items.length === 0) throw new Error(`no debian12 nbd artifacts in ${STORE}: build some first (nbdforge matrix --store ${STORE})`);
const kernels = items.map((i) => i.entry.kernelRelease);
const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-bench-oci-'));
const log = (m: string) => console.error(`[bench publish-oci] ${m}`);
const isProof = (s: Seen) => s.url.includes('.nbdforge');

async function withRegistry<T>(body: (port: number, relay: Awaited<ReturnType<typeof startProxy>>, host: string) => Promise<T>): Promise<T> {
  const reg = await startRegistry();
  const relay = await startProxy(reg.port);
  try {
    return await body(relay.port, relay, reg.host);
  } finally {
    await relay.close();
    await reg.stop();
  }
}

const timed = async (f: () => Promise<unknown>) => {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
};

// nbdforge: first publish and re-publish. Proof uploads are counted apart (skopeo copies images only).
const ours = await withRegistry(async (port, relay, host) => {
  const opts = { family: 'debian12', env: { HOME: tmp }, paths: resolvePaths(process.env, { store: STORE }) };
  const first = await timed(() => createTarget(`oci://127.0.0.1:${port}/nbd`, opts).publish(items, () => {}));
  const proofTags = kernels.map((k) => `${k}.nbdforge`);
  // Proof blobs: whatever the proof manifests list; read them back from the registry.
  const proofDigests = new Set<string>();
  for (const t of proofTags) {
    const m = (await (await fetch(`http://${host}/v2/nbd/manifests/${t}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).json()) as { config: { digest: string }; layers: Array<{ digest: string }> };
    for (const l of [m.config, ...m.layers]) proofDigests.add(l.digest);
  }
  const sent = (s: Seen) => s.bodyBytes;
  const proofBytes = relay.seen.filter((s) => isProof(s) || [...proofDigests].some((d) => decodeURIComponent(s.url).includes(d))).reduce((n, s) => n + sent(s), 0);
  const firstBytes = relay.bodyBytes();
  relay.seen.length = 0;
  const again = await timed(() => createTarget(`oci://127.0.0.1:${port}/nbd`, opts).publish(items, () => {}));
  const layout = path.join(tmp, 'layout');
  for (const k of kernels) await $`skopeo copy --quiet --src-tls-verify=false docker://${host}/nbd:${k} oci:${layout}:${k}`;
  return { first, firstBytes, proofBytes, again, againBytes: relay.bodyBytes(), againRequests: relay.seen.length, layout };
});
log(`nbdforge: ${ours.first.toFixed(2)} s ${ours.firstBytes} B; again ${ours.again.toFixed(2)} s ${ours.againBytes} B`);

// skopeo: the same images from an OCI layout into a fresh registry, then again.
const theirs = await withRegistry(async (port, relay) => {
  const copyAll = async () => {
    for (const k of kernels) await $`skopeo copy --quiet --dest-tls-verify=false oci:${ours.layout}:${k} docker://127.0.0.1:${port}/nbd:${k}`;
  };
  const first = await timed(copyAll);
  const firstBytes = relay.bodyBytes();
  relay.seen.length = 0;
  const again = await timed(copyAll);
  return { first, firstBytes, again, againBytes: relay.bodyBytes() };
});
log(`skopeo: ${theirs.first.toFixed(2)} s ${theirs.firstBytes} B; again ${theirs.again.toFixed(2)} s ${theirs.againBytes} B`);
await fs.rm(tmp, { recursive: true, force: true });

const imageBytes = ours.firstBytes - ours.proofBytes;
const s = (x: number) => `${x.toFixed(2)} s`;
const section = `<!-- bench:publish-oci -->
## publish --to oci (KMM images)

Measured ${new Date().toISOString().slice(0, 16)}Z on ${os.cpus().length} cores, load average before the run ${os.loadavg()[0].toFixed(2)}.
Command: \`npm run bench -- publish-oci\` (scripts/bench-publish-oci.ts). ${kernels.length} debian12 kernels (${kernels.join(', ')}),
each side into its own fresh Debian docker-registry on 127.0.0.1; bytes are request bodies counted by a relay in front of it.
Baseline: skopeo ${(await $`skopeo --version`).stdout.trim().split(' ').pop()} copying the very same images from an OCI layout.
nbdforge's time includes building every image (depmod, layers) from the store.

| What | Time | Bytes sent | Ratio (same run) |
|---|---|---|---|
| nbdforge publish, first (images + proofs) | ${s(ours.first)} | ${ours.firstBytes} (images ${imageBytes}, proofs ${ours.proofBytes}) | time ${(ours.first / theirs.first).toFixed(2)}x skopeo's; image bytes ${(imageBytes / theirs.firstBytes).toFixed(3)}x |
| skopeo copy of the same images, first | ${s(theirs.first)} | ${theirs.firstBytes} | baseline |
| nbdforge re-publish | ${s(ours.again)} | ${ours.againBytes} (${ours.againRequests} HEAD requests) | time ${(ours.again / theirs.again).toFixed(2)}x skopeo's |
| skopeo re-copy | ${s(theirs.again)} | ${theirs.againBytes} | baseline |
<!-- /bench:publish-oci -->`;
console.log(section);
if (!args.includes('--no-write')) {
  const doc = 'docs/BENCHMARKS.md';
  let text = await fs.readFile(doc, 'utf8');
  text = /<!-- bench:publish-oci -->[\s\S]*<!-- \/bench:publish-oci -->/.test(text)
    ? text.replace(/<!-- bench:publish-oci -->[\s\S]*<!-- \/bench:publish-oci -->/, section)
    : `${text.trimEnd()}\n\n${section}\n`;
  await fs.writeFile(doc, text);
  log(`wrote ${doc}`);
}
