/**
 * nbdforge prove's edges, without a guest: a kernel its family cannot supply bootable (an el7 catalog
 * synced before kernel RPMs were recorded, a kernel the catalog does not list) leaves the artifact
 * unproven and says so (exit 1, no proof stored); bad usage is one line and exit 2.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../src/cli.ts';
import { putModule } from './publish-fixtures.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';

let home = '';
const EL7 = '3.10.0-1160.119.1.el7.x86_64';
const UNLISTED = '3.10.0-1160.118.1.el7.x86_64';

/** An el7 catalog as `kernels sync` wrote it before it recorded kernel RPMs: srpm and devel only. */
function oldCatalog() {
  const v = EL7.replace(/\.x86_64$/, '');
  const f = (p: string, c: string) => ({ url: `http://127.0.0.1:9/${p}`, path: p, sha256: c.repeat(64), size: 100 });
  return {
    schema: 1, family: 'el7', vault: 'http://127.0.0.1:9', fingerprint: '6341AB2753D78A78A7C27BB124C6A8A7F4A80EB5', syncedAt: '2026-11-30T00:00:00.000Z', repos: [], unpaired: [],
    kernels: [{ family: 'el7', release: '7.9.2009', kernelRelease: EL7, version: v, repo: 'updates', srpm: f(`7.9.2009/updates/Source/SPackages/kernel-${v}.src.rpm`, 'a'), devel: f(`7.9.2009/updates/x86_64/Packages/kernel-devel-${EL7}.rpm`, 'b') }],
  };
}

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write: (c, _e, cb) => (f(c.toString()), cb()) }) as unknown as NodeJS.WriteStream;
  const code = await main(args, { env: { ...process.env, NBDFORGE_HOME: home, DOCKER_HOST: 'unix:///nonexistent.sock' }, stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) });
  return { code, out, err };
}

test.before(async () => {
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-prove-cli-'));
  await putModule(path.join(home, 'store'), EL7, { family: 'el7' });
  await putModule(path.join(home, 'store'), UNLISTED, { family: 'el7' });
  await fs.mkdir(path.join(home, 'cache', 'catalog'), { recursive: true });
  await fs.writeFile(path.join(home, 'cache', 'catalog', 'el7.json'), JSON.stringify(oldCatalog()));
});
test.after(() => fs.rm(home, { recursive: true, force: true }));

test('el7: a catalog without the kernel RPM, a kernel it does not list: unproven, said plainly, exit 1, nothing stored, nothing fetched', async () => {
  const r = await run('prove', '--family', 'el7');
  assert.is(r.code, 1, r.err);
  for (const k of [EL7, UNLISTED]) assert.match(r.out, new RegExp(`${k.replace(/\./g, '\\.')} +unproven `));
  assert.match(r.out, /0\/2 proven/);
  assert.match(r.err, new RegExp(`unproven: no bootable kernel in the el7 catalog for ${EL7.replace(/\./g, '\\.')} \\(no kernel RPM recorded; run: nbdforge kernels sync --family el7\\)`));
  const j = await run('prove', '--family', 'el7', '--json');
  assert.is(j.code, 1);
  const res = JSON.parse(j.out);
  assert.equal(res.counts, { proven: 0, cached: 0, failed: 0, unproven: 2 });
  for (const k of res.kernels) assert.match(k.reason, /^unproven: no bootable kernel in the el7 catalog for /);
  for (const k of [EL7, UNLISTED]) {
    const [entry] = await new DirStore(path.join(home, 'store')).list({ kernelRelease: k });
    assert.not.ok(await fs.access(path.join(home, 'store', entry.dir, 'proof.json')).then(() => true, () => false), 'no proof.json');
  }
});

test('usage: one line, exit 2', async () => {
  for (const [args, msg] of [
    [['prove', '--kernels', '6.1.0-57-amd64', '--all'], /use one of --kernels, --all, --missing/],
    [['prove', '--accel', 'hvf'], /--accel must be auto, kvm or tcg/],
    [['prove', '--timeout', '0'], /--timeout must be a positive integer/],
    [['prove', '--jobs', 'two'], /--jobs must be a positive integer/],
    [['prove', '--kernels', '6.1.0-99-amd64'], /no debian12 nbd artifact for 6\.1\.0-99-amd64 in .* \(build it first/],
    [['prove', '--kernels', '../etc'], /is not a kernel release/],
    [['matrix', '--accel', 'tcg'], /--accel goes with --prove/],
    [['matrix', '--prove', '--list'], /--prove builds and proves; --list only lists/],
  ] as Array<[string[], RegExp]>) {
    const r = await run(...args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, msg, args.join(' '));
    assert.is(r.err.trim().split('\n').length, 1, r.err);
  }
});

test.run();
