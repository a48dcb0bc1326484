#!/usr/bin/env tsx
/**
 * publish benchmark, one run on one machine:
 *   1. `nbdforge publish --to dir` of the store's debian12 matrix (built first: a cache hit when
 *      stored), signed with a throwaway gpg key, into an empty directory: time and bytes written;
 *      against the baseline of copying and hashing the same modules (cp + sha256sum).
 *   2. the re-publish (goal: under 1 s, 0 bytes), whole CLI process and the command's own time.
 *   3. in a QEMU TCG guest (newest kernel): `curl URL/install.sh | sh` from the published tree served
 *      on 127.0.0.1 (10.0.2.2 in the guest) against prepare-host's emitted script, fresh each time
 *      (guest reset between runs), alternating; medians.
 *      With --before REV, install.sh as git revision REV had it (same key, same tree) runs alongside: an A/B.
 * Writes the section between the bench:publish markers of docs/BENCHMARKS.md.
 * Usage: tsx scripts/bench-publish.ts [--kernels a,b,...] [--runs 5] [--no-guest] [--before REV] [--no-write]
 */
import { $, fs, path, os } from 'zx';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { resolvePaths } from '../src/paths.ts';
import { DirStore } from '../src/artifacts/dir-store.ts';
import { prepareGuest, availableReleases } from './vm/harness.ts';
import { opt, median } from './bench-options.ts';
import { renderInstallSh, assembleTemplate } from '../src/publish/dir/install-sh.ts';

$.verbose = false;
const args = process.argv.slice(2);
const runs = Number(opt('runs') ?? 5);
const paths = resolvePaths(process.env);
const cli = path.resolve('bin/nbdforge.js');
const log = (s: string) => console.error(`[bench] ${s}`);
const secs = async (fn: () => Promise<unknown>) => {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
};

const kernelsArg = opt('kernels');
log(`matrix ${kernelsArg ?? '(6 newest debian12 kernels)'} into ${paths.store} (a cache hit when stored)`);
await $({ stdio: ['ignore', 'ignore', 'inherit'] })`${cli} matrix --family debian12 ${kernelsArg ? ['--kernels', kernelsArg] : ['--latest', '6']} --jobs 1`;
const store = new DirStore(paths.store);
const entries = (await store.list({ family: 'debian12', module: 'nbd' })).filter((e) => !kernelsArg || kernelsArg.split(',').includes(e.kernelRelease));
const kernels = entries.map((e) => e.kernelRelease);
log(`publishing ${kernels.length} kernels: ${kernels.join(', ')}`);

const work = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-bench-publish-'));
const gnupg = path.join(work, 'gnupg');
await fs.mkdir(gnupg, { mode: 0o700 });
const env = { ...process.env, GNUPGHOME: gnupg };
execFileSync('gpg', ['--batch', '--quiet', '--passphrase', '', '--quick-gen-key', 'nbdforge bench <bench@nbdforge.invalid>', 'ed25519', 'sign', 'never'], { env, stdio: 'ignore' });
const fpr = execFileSync('gpg', ['--batch', '--with-colons', '--list-secret-keys'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').find((l) => l.startsWith('fpr:'))!.split(':')[9];

// The http server starts first: install.sh gets the URL the guest will use baked in.
const site = path.join(work, 'site');
const server = http.createServer(async (req, res) => {
  const file = path.join(site, path.normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
  if (!file.startsWith(site + path.sep)) return void res.writeHead(403).end();
  const data = await fs.readFile(file).catch(() => undefined);
  if (data) res.writeHead(200, { 'content-length': data.length }).end(data);
  else res.writeHead(404).end();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://10.0.2.2:${(server.address() as { port: number }).port}`;

const publish = async () => {
  const r = await $({ env })`${cli} publish --family debian12 --kernels ${kernels.join(',')} --to ${`dir:${site}`} --gpg-key ${fpr} --url ${url} --json`;
  return JSON.parse(r.stdout) as { bytesSent: number; ms: number; nothingToPublish: boolean };
};
// Records of earlier runs name other directories: this one is new, so the first publish sends all.
let first!: { bytesSent: number; ms: number; nothingToPublish: boolean };
const firstSecs = await secs(async () => (first = await publish()));
const reruns: Array<{ wall: number; ms: number; bytes: number; nothing: boolean }> = [];
for (let i = 0; i < runs; i++) {
  let r!: { bytesSent: number; ms: number; nothingToPublish: boolean };
  const wall = await secs(async () => (r = await publish()));
  reruns.push({ wall, ms: r.ms, bytes: r.bytesSent, nothing: r.nothingToPublish });
}
// The same kernels to an apt repository (debian12's package channel): first publish, then re-publish.
const aptDir = path.join(work, 'apt');
const aptPublish = async () => {
  const r = await $({ env })`${cli} publish --family debian12 --kernels ${kernels.join(',')} --to ${`apt:${aptDir}`} --gpg-key ${fpr} --json`;
  return JSON.parse(r.stdout) as { bytesSent: number; ms: number; nothingToPublish: boolean };
};
let aptFirst!: { bytesSent: number; ms: number; nothingToPublish: boolean };
const aptFirstSecs = await secs(async () => (aptFirst = await aptPublish()));
const aptReruns: Array<{ wall: number; bytes: number; nothing: boolean }> = [];
for (let i = 0; i < runs; i++) {
  let r!: { bytesSent: number; ms: number; nothingToPublish: boolean };
  const wall = await secs(async () => (r = await aptPublish()));
  aptReruns.push({ wall, bytes: r.bytesSent, nothing: r.nothingToPublish });
}
if (aptReruns.some((r) => !r.nothing || r.bytes !== 0)) throw new Error(`an apt re-publish sent something: ${JSON.stringify(aptReruns)}`);
// What any nbdforge command costs before it does anything (node + tsx compiling the sources).
const startup: number[] = [];
for (let i = 0; i < runs; i++) startup.push(await secs(() => $`${cli} --version`));
if (reruns.some((r) => !r.nothing || r.bytes !== 0)) throw new Error(`a re-publish sent something: ${JSON.stringify(reruns)}`);
const plainDir = path.join(work, 'plain');
const plainSecs = await secs(async () => {
  await fs.mkdir(plainDir);
  for (const e of entries) await fs.copyFile(store.artifactPath(e), path.join(plainDir, `${e.kernelRelease}.ko`));
  await $({ cwd: plainDir })`sha256sum ${entries.map((e) => `${e.kernelRelease}.ko`)} > SHA256SUMS`;
});
const moduleBytes = entries.reduce((n, e) => n + fs.statSync(store.artifactPath(e)).size, 0);
const siteBytes = Number((await $`du -sb ${site}`).stdout.split('\t')[0]);

let guest: { install: number[]; emitted: number[]; before: number[]; K: string; tools: Record<string, number> } | undefined;
const beforeRev = opt('before');
if (beforeRev) {
  // the earlier template, filled in exactly as publish fills in the current one
  const template = assembleTemplate((name) => execFileSync('git', ['show', `${beforeRev}:src/publish/dir/${name}`], { encoding: 'utf8' }));
  const publicKey = execFileSync('gpg', ['--batch', '--export', fpr], { env });
  await fs.writeFile(path.join(site, 'install-before.sh'), renderInstallSh({ fingerprint: fpr, publicKey, url, generator: `bench (${beforeRev})`, template }));
}
if (!args.includes('--no-guest')) {
  // The newest published kernel the VM harness can boot (a brand-new ABI may have only an -unsigned image yet).
  const bootable = await availableReleases();
  const K = kernels.filter((k) => bootable.includes(k)).at(-1) ?? kernels[kernels.length - 1];
  const share = path.join(work, 'share');
  await fs.mkdir(share);
  await $`${cli} prepare-host --from ${paths.store} --kernel ${K} --emit-script ${path.join(share, 'prepare.sh')}`;
  await fs.writeFile(
    path.join(share, 'bench.sh'),
    `K=${K}
ip link set lo up; ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
now() { cut -d' ' -f1 /proc/uptime; }
reset() { modprobe -r nbd 2>/dev/null; rm -rf /lib/modules/$K/extra /etc/modprobe.d /etc/modules-load.d /lib/modules/.nbd-*; depmod -a $K; sync; }
timed() { name=$1; shift; a=$(now); "$@" >/tmp/out 2>&1 || { echo "BENCH-FAIL $name"; cat /tmp/out; }; b=$(now); echo "BENCH $name $(awk -v a=$a -v b=$b 'BEGIN { printf "%.2f", b - a }')"; }
install() { curl -fsSL ${url}/install.sh | sh; }
before() { curl -fsSL ${url}/install-before.sh | sh; }
for i in $(seq ${runs}); do
  reset; timed install install
  [ -d /sys/module/nbd ] || echo "BENCH-FAIL install.sh did not load nbd"
${beforeRev ? `  reset; timed before before
  [ -d /sys/module/nbd ] || echo "BENCH-FAIL install.sh of ${beforeRev} did not load nbd"
` : ''}  reset; timed emitted sh /share/prepare.sh
  [ -d /sys/module/nbd ] || echo "BENCH-FAIL emitted script did not load nbd"
done
# What install.sh's own steps cost in this guest, each the mean of 10 runs: one curl run (the index), gpgv
# (the signature check, against the site's key), one busybox applet (sha256sum of the index): its floor.
curl -fsS -o /tmp/i.json ${url}/index.json && curl -fsS -o /tmp/i.sig ${url}/index.json.sig && curl -fsS -o /tmp/k.gpg ${url}/signing-key.gpg || echo "BENCH-FAIL tool downloads"
gpgv --keyring /tmp/k.gpg /tmp/i.sig /tmp/i.json >/dev/null 2>&1 || echo "BENCH-FAIL gpgv does not verify the index"
tool() { name=$1; shift; a=$(now); i=0; while [ $i -lt 10 ]; do "$@" >/dev/null 2>&1; i=$((i + 1)); done; b=$(now); echo "BENCH $name $(awk -v a=$a -v b=$b 'BEGIN { printf "%.3f", (b - a) / 10 }')"; }
tool toolcurl curl -fsS -o /dev/null ${url}/index.json
tool toolgpgv gpgv --keyring /tmp/k.gpg /tmp/i.sig /tmp/i.json
tool toolapplet sha256sum /tmp/i.json
`,
  );
  log(`guest ${K}: ${runs} x (curl | sh install.sh, emitted prepare-host script), TCG -smp 1`);
  const g = await prepareGuest({ release: K, modules: ['virtio_net'], tools: ['/usr/bin/curl', '/usr/bin/gpgv'] });
  const boot = await g.boot({ share, script: 'bench.sh', modules: ['virtio_net'], timeoutMs: 900_000, extraArgs: ['-nic', 'user,model=virtio-net-pci'] });
  if (boot.exitCode !== 0 || /BENCH-FAIL/.test(boot.console)) throw new Error(`bench guest failed:\n${boot.console.slice(-3000)}`);
  const t: Record<string, number[]> = { install: [], emitted: [], before: [] };
  for (const m of boot.console.matchAll(/^BENCH (\w+) ([\d.]+)$/gm)) (t[m[1]] ??= []).push(Number(m[2]));
  const tools = { curl: t.toolcurl?.[0] ?? NaN, gpgv: t.toolgpgv?.[0] ?? NaN, applet: t.toolapplet?.[0] ?? NaN };
  guest = { install: t.install, emitted: t.emitted, before: t.before, K, tools };
}
server.close();

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const fmt = (x: number) => `${x.toFixed(2)} s`;
const raw = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
const wall = median(reruns.map((r) => r.wall));
const own = median(reruns.map((r) => r.ms)) / 1000;
const section = `<!-- bench:publish -->
## publish --to dir and --to apt

Measured ${new Date().toISOString().slice(0, 16)}Z on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), load average before the run ${os.loadavg()[0].toFixed(2)}.
Command: \`npm run bench -- publish --runs ${runs}${kernelsArg ? ` --kernels ${kernelsArg}` : ''}${beforeRev ? ` --before ${beforeRev}` : ''}\`. ${kernels.length} debian12 kernels (${kernels.join(', ')}), signed with a
throwaway ed25519 key; whole CLI processes (\`node bin/nbdforge.js publish ... --json\`), wall clock on this machine.

| What | Time | Bytes | Ratio |
|---|---|---|---|
| publish to an empty directory (re-hash, copy modules + manifests, plan scripts, kernels/<release>/ copies, index.json + gpg signature, install.sh, SHA256SUMS) | ${fmt(firstSecs)} (command's own ${fmt(first.ms / 1000)}) | ${kib(first.bytesSent)} written (${kib(moduleBytes)} of it modules; tree ${kib(siteBytes)}) | ${(firstSecs / plainSecs).toFixed(1)}x the baseline |
| Baseline: cp of the same modules + sha256sum (in-process copy, one sha256sum) | ${fmt(plainSecs)} | ${kib(moduleBytes)} | baseline |
| re-publish, nothing missing (\`nothing to publish\`), median of ${runs} | **${fmt(wall)}** (command's own ${fmt(own)}) | **0** | goal < 1 s, 0 bytes |
| publish to apt (one .deb per kernel: dpkg-deb, Packages, Release, InRelease signed) | ${fmt(aptFirstSecs)} (command's own ${fmt(aptFirst.ms / 1000)}) | ${kib(aptFirst.bytesSent)} of packages | ${(aptFirstSecs / plainSecs).toFixed(1)}x the baseline |
| apt re-publish, nothing missing, median of ${runs} | **${fmt(median(aptReruns.map((r) => r.wall)))}** | **0** | goal < 1 s, 0 bytes |
| For scale: \`nbdforge --version\` (process start-up only), median of ${runs} | ${fmt(median(startup))} | | re-publish is ${(wall / median(startup)).toFixed(2)}x a bare start-up |
${guest ? `| In a guest (${guest.K}, QEMU TCG): \`curl URL/install.sh \\| sh\` (index.json, its signature and the kernel's kernels/<release>/ copies in one curl run, gpgv, size/sha256/vermagic, then the plan), fresh | ${fmt(median(guest.install))} | | **${(median(guest.install) / median(guest.emitted)).toFixed(2)}x** the emitted script |
${guest.before.length ? `| Same guest, same tree: install.sh as of ${beforeRev} (the A/B: same tree, key and guest) | ${fmt(median(guest.before))} | | ${(median(guest.before) / median(guest.emitted)).toFixed(2)}x the emitted script |
` : ''}| Same guest: prepare-host's emitted script (module embedded), fresh | ${fmt(median(guest.emitted))} | | baseline |
| Same boot, what install.sh's floor is made of (mean of 10 each): one curl run | ${guest.tools.curl.toFixed(3)} s | | |
| gpgv checking the index's signature | ${guest.tools.gpgv.toFixed(3)} s | | |
| one busybox applet (sha256sum of the index) | ${guest.tools.applet.toFixed(3)} s | | |
| Floor of a \`curl URL/install.sh \\| sh\` that verifies a signed index: the emitted script + 2 curl runs (the user's, install.sh's one) + gpgv | ${fmt(median(guest.emitted) + 2 * guest.tools.curl + guest.tools.gpgv)} | | ${((median(guest.emitted) + 2 * guest.tools.curl + guest.tools.gpgv) / median(guest.emitted)).toFixed(2)}x the emitted script |
` : ''}
Raw re-publish runs (s, wall): ${raw(reruns.map((r) => r.wall))}; the command's own: ${raw(reruns.map((r) => r.ms / 1000))}; start-up alone: ${raw(startup)}.
The re-publish does no hashing and no copying (records + the directory's own index.json say what it holds); what is left of
its wall time is Node start-up, which a loaded machine stretches.${guest ? `\nRaw guest runs (s): install.sh ${raw(guest.install)}; ${guest.before.length ? `install.sh of ${beforeRev} ${raw(guest.before)}; ` : ''}emitted script ${raw(guest.emitted)}.` : ''}
<!-- /bench:publish -->`;

console.log(section);
await fs.remove(work);
if (!args.includes('--no-write')) {
  const doc = 'docs/BENCHMARKS.md';
  let text = (await fs.pathExists(doc)) ? await fs.readFile(doc, 'utf8') : '# Benchmarks\n\nEach figure with the command that reproduces it.\n';
  const re = /<!-- bench:publish -->[\s\S]*<!-- \/bench:publish -->/;
  text = re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}\n`;
  await fs.writeFile(doc, text);
  log(`wrote ${doc}`);
}
