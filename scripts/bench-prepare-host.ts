#!/usr/bin/env tsx
/**
 * prepare-host benchmark, every ratio from one run on one machine:
 *   1. the emitted prepare-host script in a QEMU TCG guest (newest Debian ABI, nbd.ko removed), fresh host
 *   2. the same commands typed as a plain script (mkdir, cp, depmod, conf files, modprobe) in the same guest
 *   3. a second prepare-host run (everything already done)
 *   4. the classic build-on-the-host recipe: the full-tree build (containers/fulltree, native speed on
 *      this machine, the same recipe `npm run bench` times) plus the plain install commands in the guest
 *   5. the operator's view: the whole CLI over ssh (`nbdforge prepare-host --ssh`: facts, artifact
 *      checks, plan sent as a script) fresh and re-run, against the plain script sent over ssh
 * Runs alternate (prepare, re-run, plain) and the guest is reset between them.
 * Writes the section between the bench:prepare-host markers of docs/BENCHMARKS.md.
 * Usage: tsx scripts/bench-prepare-host.ts [--kernel 6.1.0-56-amd64] [--runs 5] [--no-classic] [--no-ssh] [--no-write]
 */
import { $, fs, path, os } from 'zx';
import { resolvePaths } from '../src/paths.ts';
import { DirStore } from '../src/artifacts/dir-store.ts';
import { prepareGuest, testReleases } from './vm/harness.ts';
import { ensureDropbear, freePort, makeKey, sshOptions, guestSshSetup } from './vm/ssh.ts';
import { opt, median } from './bench-options.ts';

$.verbose = false;
const args = process.argv.slice(2);
const runs = Number(opt('runs') ?? 5);
const paths = resolvePaths(process.env);
const K = opt('kernel') ?? (await testReleases()).newest;
const cli = path.resolve('bin/nbdforge.js');
const log = (s: string) => console.error(`[bench] ${s}`);
const OPTIONS = 'nbds_max=16 max_part=15';

log(`artifact for ${K} in ${paths.store} (build is a cache hit when stored)`);
await $`${cli} build --family debian12 --kernel ${K}`;
const [entry] = await new DirStore(paths.store).list({ kernelRelease: K, module: 'nbd' });
const share = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-bench-prepare-host-'));
await fs.copy(new DirStore(paths.store).artifactPath(entry), path.join(share, 'nbd.ko'));
const te0 = performance.now();
await $`${cli} prepare-host --from ${paths.store} --kernel ${K} --options ${OPTIONS} --emit-script ${path.join(share, 'prepare.sh')}`;
const emitSecs = (performance.now() - te0) / 1000;

// The same host change typed by hand: no probes, no checks, no undo, no lock.
await fs.writeFile(
  path.join(share, 'plain.sh'),
  `set -e
PATH=/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /lib/modules/${K}/extra
cp /share/nbd.ko /lib/modules/${K}/extra/nbd.ko
depmod -a ${K}
mkdir -p /etc/modprobe.d /etc/modules-load.d
echo 'options nbd ${OPTIONS}' > /etc/modprobe.d/nbd.conf
echo nbd > /etc/modules-load.d/nbd.conf
modprobe nbd
`,
);
await fs.writeFile(
  path.join(share, 'bench.sh'),
  `K=${K}
now() { cut -d' ' -f1 /proc/uptime; }
reset() { modprobe -r nbd 2>/dev/null; rm -rf /lib/modules/$K/extra /etc/modprobe.d /etc/modules-load.d /lib/modules/.nbd-*; depmod -a $K; sync; }
timed() { name=$1; shift; a=$(now); "$@" >/tmp/out 2>&1 || { echo "BENCH-FAIL $name"; cat /tmp/out; }; b=$(now); echo "BENCH $name $(awk -v a=$a -v b=$b 'BEGIN { printf "%.2f", b - a }')"; }
for i in $(seq ${runs}); do
  reset; timed prepare sh /share/prepare.sh
  [ -d /sys/module/nbd ] || echo "BENCH-FAIL prepare did not load nbd"
  timed rerun sh /share/prepare.sh
  grep -q '^@nbdforge outcome unchanged' /tmp/out || echo "BENCH-FAIL rerun changed something"
  reset; timed plain sh /share/plain.sh
  [ -d /sys/module/nbd ] || echo "BENCH-FAIL plain did not load nbd"
done
`,
);

log(`guest ${K}: ${runs} x (prepare-host, re-run, plain script), TCG -smp 1`);
const guest = await prepareGuest({ release: K });
const boot = await guest.boot({ share, script: 'bench.sh', timeoutMs: 600_000 });
if (boot.exitCode !== 0 || /BENCH-FAIL/.test(boot.console)) throw new Error(`bench guest failed:\n${boot.console.slice(-3000)}`);
const times: Record<string, number[]> = { prepare: [], rerun: [], plain: [] };
for (const m of boot.console.matchAll(/^BENCH (\w+) ([\d.]+)$/gm)) times[m[1]].push(Number(m[2]));

let ssh: Record<'fresh' | 'rerun' | 'plain', number[]> | undefined;
if (!args.includes('--no-ssh')) {
  log(`guest ${K} with ssh: ${runs} x (CLI over ssh fresh, re-run, plain script over ssh)`);
  const g = await prepareGuest({ release: K, modules: ['virtio_net'], tools: [await ensureDropbear()] });
  const { key } = await makeKey(share);
  const port = await freePort();
  await fs.writeFile(path.join(share, 'ssh.sh'), `${guestSshSetup('id.pub')}\nwhile [ ! -e /share/ssh-done ]; do sleep 0.2; done\n`);
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const booting = g.boot({ share, script: 'ssh.sh', modules: ['virtio_net'], forwards: [{ hostPort: port, guestPort: 22 }], timeoutMs: 900_000, onLine: (l) => l.includes('NBDFORGE-SSH-READY') && ready() });
  await isReady;
  const opts = sshOptions(key, port);
  const sshTo = ['ssh', ...opts.flatMap((o) => ['-o', o]), 'root@127.0.0.1'];
  const reset = `PATH=/usr/sbin:/usr/bin:/sbin:/bin; modprobe -r nbd 2>/dev/null; rm -rf /lib/modules/${K}/extra /etc/modprobe.d /etc/modules-load.d /lib/modules/.nbd-*; depmod -a ${K}`;
  const viaCli = [cli, 'prepare-host', '--from', paths.store, '--options', OPTIONS, '--ssh', 'root@127.0.0.1', ...opts.flatMap((o) => ['--ssh-option', o])];
  const timed = async (argv: string[]) => {
    const t0 = performance.now();
    const r = await $`${argv}`.nothrow();
    if (r.exitCode !== 0) throw new Error(`${argv.join(' ')} failed:\n${r.stdout}${r.stderr}`);
    return { secs: (performance.now() - t0) / 1000, out: r.stdout };
  };
  ssh = { fresh: [], rerun: [], plain: [] };
  try {
    for (let i = 0; i < runs; i++) {
      await $`${sshTo} ${reset}`;
      const f = await timed(viaCli);
      if (!/^result: changed/m.test(f.out)) throw new Error(`fresh ssh run did not change the host:\n${f.out}`);
      ssh.fresh.push(f.secs);
      const r = await timed(viaCli);
      if (!/^result: unchanged/m.test(r.out)) throw new Error(`ssh re-run changed the host:\n${r.out}`);
      ssh.rerun.push(r.secs);
      await $`${sshTo} ${reset}`;
      ssh.plain.push((await timed([...sshTo, 'sh /share/plain.sh'])).secs);
    }
  } finally {
    await fs.writeFile(path.join(share, 'ssh-done'), '');
    await booting;
  }
}

let classic: { secs: number; steps: Record<string, number> } | undefined;
if (!args.includes('--no-classic')) {
  log('classic full-tree build of nbd.ko on this machine (one run, containers/fulltree)');
  const { connectEngine } = await import('../src/docker/engine.ts');
  const { ensureImage } = await import('../src/docker/image.ts');
  const { runContainer } = await import('../src/docker/run.ts');
  const { dockerContainers } = await import('../src/docker/containers.ts');
  const { getFamily } = await import('../src/families/index.ts');
  const docker = await connectEngine(process.env);
  const family = getFamily('debian12', process.env);
  const { kernels } = await family.catalog({ containers: dockerContainers(docker), paths });
  const kernel = kernels.find((k) => k.kernelRelease === K)!;
  await family.ensureSources({ containers: dockerContainers(docker), paths }, kernel);
  const img = await ensureImage(docker, { repo: 'nbdforge/fulltree-bench', contextDir: path.resolve('containers/fulltree'), buildArgs: {}, baseImage: 'debian:bookworm' });
  const file = (role: string) => kernel.files.find((f) => f.role === role)!.filename;
  const steps: Record<string, number> = {};
  const t0 = performance.now();
  await runContainer(docker, {
    image: img.tag,
    cmd: ['/usr/local/lib/nbdforge/fulltree.sh'],
    env: { KREL: K, HEADERS_DEB: file('headers'), SOURCE_DEB: file('source') },
    binds: [`${path.join(paths.cache, 'debian12', 'debs')}:/debs:ro`],
    tmpfs: { '/work': 'rw,exec,size=6g' },
    labels: { 'nbdforge.role': 'bench' },
    onLine: (l: string) => {
      const m = /^@@time (\S+) ([\d.]+)/.exec(l);
      if (m) steps[m[1]] = Number(m[2]);
    },
  });
  classic = { secs: (performance.now() - t0) / 1000, steps };
}
await fs.remove(share);

const p = median(times.prepare);
const r = median(times.rerun);
const q = median(times.plain);
const fmt = (x: number) => `${x.toFixed(2)} s`;
const raw = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
const section = `<!-- bench:prepare-host -->
## prepare-host

Measured ${new Date().toISOString().slice(0, 16)}Z on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), load average before the run ${os.loadavg()[0].toFixed(2)}.
Command: \`tsx scripts/bench-prepare-host.ts --runs ${runs}\`. Guest: Debian ${K} under QEMU TCG \`-smp 1\`
(no KVM on this machine, so every guest figure is several times slower than on real hardware), with
the distribution's nbd.ko removed; the guest is reset (rmmod, files removed, depmod) before each
fresh run, and the three kinds of run alternate. Times are medians of ${runs}, read from /proc/uptime in the guest.

| What | Time | Ratio (same run) |
|---|---|---|
| prepare-host, emitted script, fresh guest (probe, stage, sha256 + vermagic check, install, depmod, persist, modprobe, check /dev/nbd0 and parameters) | ${fmt(p)} | **${(p / q).toFixed(2)}x** the plain script |
| Same commands typed as a plain script (mkdir, cp, depmod, two conf files, modprobe) | ${fmt(q)} | baseline |
| prepare-host re-run, everything already done (\`outcome unchanged\`) | ${fmt(r)} | ${(r / q).toFixed(2)}x the plain script |
${classic ? `| Classic build-on-the-host recipe: full-tree build on this machine at native speed (${fmt(classic.secs)}) + the plain install in the guest | ${fmt(classic.secs + q)} | prepare-host is **${((classic.secs + q) / p).toFixed(1)}x faster** |\n` : ''}${ssh ? `| \`nbdforge prepare-host --ssh\` from this machine, whole CLI process, fresh guest (facts over ssh, artifact checks, plan sent as one script) | ${fmt(median(ssh.fresh))} | **${(median(ssh.fresh) / median(ssh.plain)).toFixed(2)}x** the plain script over ssh |
| Same, re-run (\`result: unchanged\`) | ${fmt(median(ssh.rerun))} | ${(median(ssh.rerun) / median(ssh.plain)).toFixed(2)}x the plain script over ssh |
| The plain script over ssh (\`ssh root@guest sh plain.sh\`, one connection) | ${fmt(median(ssh.plain))} | baseline for the ssh rows |
` : ''}| Rendering the script on the controlling machine (\`nbdforge prepare-host --emit-script\`, whole CLI process) | ${fmt(emitSecs)} | not part of the guest time |

Raw runs (s): prepare-host ${raw(times.prepare)}; re-run ${raw(times.rerun)}; plain ${raw(times.plain)}.${ssh ? `\nRaw ssh runs (s, host wall clock; each ssh connection includes a key exchange computed by the TCG guest): CLI fresh ${raw(ssh.fresh)}; CLI re-run ${raw(ssh.rerun)}; plain over ssh ${raw(ssh.plain)}.` : ''}
${classic ? `Full-tree steps: ${Object.entries(classic.steps).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')}. The classic side also needs a compiler, the kernel source and headers on every host; prepare-host needs sh, kmod and sha256sum.\n` : ''}<!-- /bench:prepare-host -->`;

console.log(section);
if (!args.includes('--no-write')) {
  const doc = 'docs/BENCHMARKS.md';
  let text = (await fs.pathExists(doc)) ? await fs.readFile(doc, 'utf8') : '# Benchmarks\n\nEach figure with the command that reproduces it.\n';
  const re = /<!-- bench:prepare-host -->[\s\S]*<!-- \/bench:prepare-host -->/;
  text = re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}\n`;
  await fs.writeFile(doc, text);
  log(`wrote ${doc}`);
}
