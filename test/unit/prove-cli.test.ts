/**
 * nbdforge prove's edges, without a guest: a family that cannot supply a bootable kernel leaves its
 * artifacts unproven and says so (exit 1, no proof stored); bad usage is one line and exit 2.
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
});
test.after(() => fs.rm(home, { recursive: true, force: true }));

test('el7: no bootable kernel yet, so the artifact stays unproven, said plainly, exit 1, nothing stored', async () => {
  const r = await run('prove', '--family', 'el7');
  assert.is(r.code, 1, r.err);
  assert.match(r.out, new RegExp(`${EL7.replace(/\./g, '\\.')} +unproven `));
  assert.match(r.out, /0\/1 proven/);
  assert.match(r.err, /unproven: the el7 family cannot supply a bootable kernel yet/);
  const j = await run('prove', '--family', 'el7', '--json');
  assert.is(j.code, 1);
  const res = JSON.parse(j.out);
  assert.equal(res.counts, { proven: 0, cached: 0, failed: 0, unproven: 1 });
  assert.match(res.kernels[0].reason, /cannot supply a bootable kernel/);
  const [entry] = await new DirStore(path.join(home, 'store')).list({ kernelRelease: EL7 });
  assert.not.ok(await fs.access(path.join(home, 'store', entry.dir, 'proof.json')).then(() => true, () => false), 'no proof.json');
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
