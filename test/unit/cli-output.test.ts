/**
 * Issue 23: every byte reaches the reader. Each command that writes to stdout runs as the real CLI
 * binary into a real pipe whose reader waits before reading (test/unit/slow-pipe.ts), and what the
 * reader got must equal the same command's output to a file, with the command's own exit status.
 * Then the write errors: /dev/full, a reader that goes away, a file system that is full.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { putModule } from './publish-fixtures.ts';
import { CLI, PIPE_BYTES, readerDelay, throughSlowPipe, toFile } from './slow-pipe.ts';

const K = '6.1.0-56-amd64';
let tmp = '';
let env: NodeJS.ProcessEnv = {};
const store = () => path.join(tmp, 'store');

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-cli-output-'));
  env = { ...process.env, NBDFORGE_HOME: path.join(tmp, 'home'), NBDFORGE_STATE_DIR: path.join(tmp, 'state') };
  await fs.writeFile(path.join(tmp, 'disk.img'), Buffer.alloc(1 << 20));
  await fs.writeFile(path.join(tmp, 'vol.img'), Buffer.alloc(8 << 20));
  // a module of about 80 KB: the emitted prepare-host script carries it, so it is over 64 KiB
  await putModule(store(), K, { salt: 'x'.repeat(80_000) });
  for (let i = 40; i < 56; i++) await putModule(store(), `6.1.0-${i}-amd64`);
});
test.after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** Map ids (`disk-<time><random>`) differ from run to run; everything else must not. */
const normal = (b: Buffer) => b.toString('latin1').replace(/-[0-9a-z]{8,9}[0-9a-f]{6}\b/g, '-ID');

/** The commands that write to stdout, each with an output bigger than the test pipe. */
function stdoutCommands(): Array<{ name: string; args: string[]; min: number }> {
  const img = path.join(tmp, 'disk.img');
  const vol = path.join(tmp, 'vol.img');
  const guids = ['--disk-guid', '0b5d7a4e-3f2c-4b8a-9e11-5c6d7e8f9a01', '--part-guid', '6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'];
  const kernels = Array.from({ length: 3000 }, (_, i) => `6.1.0-${i}-amd64`).join(',');
  return [
    { name: 'prepare-host --emit-script -', args: ['prepare-host', '--from', store(), '--kernel', K, '--emit-script', '-'], min: 64 << 10 },
    { name: 'kmm-module', args: ['kmm-module', '--image', '127.0.0.1:5000/nbd', '--kernels', kernels], min: 64 << 10 },
    { name: 'map --emit-script -', args: ['map', img, '--emit-script', '-'], min: PIPE_BYTES },
    // (a dry run prints a table of a few hundred bytes since issue 19: the scripts stand in for it)
    { name: 'unmap --emit-script -', args: ['unmap', '--all', '--emit-script', '-'], min: PIPE_BYTES },
    { name: 'export --emit-script -', args: ['export', img, '--emit-script', '-'], min: PIPE_BYTES },
    { name: 'compose --emit-script -', args: ['compose', vol, '--name', 'nbdforge-test-out', ...guids, '--size', String(8 << 20), '--emit-script', '-'], min: PIPE_BYTES },
    // the workflow is about 3.6 KB; a long --publish path (it is written into the workflow twice) makes it exceed the pipe
    { name: 'ci github', args: ['ci', 'github', '--family', 'debian12', '--publish', `dir:${'site/'.repeat(180)}site`], min: PIPE_BYTES },
  ];
}

for (const name of ['prepare-host --emit-script -', 'kmm-module', 'map --emit-script -', 'unmap --emit-script -', 'export --emit-script -', 'compose --emit-script -', 'ci github']) {
  test(`${name}: a slow pipe reader gets every byte the file gets, exit status unchanged`, () => {
    const c = stdoutCommands().find((x) => x.name === name)!;
    const file = toFile(c.args, env, path.join(tmp, 'ref.out'));
    assert.is(file.status, 0, `${name} to a file: ${file.out.toString().slice(0, 500)}`);
    assert.ok(file.out.length >= c.min, `${name}: ${file.out.length} bytes, the test needs at least ${c.min}`);
    assert.ok(file.out.length > PIPE_BYTES);
    const piped = throughSlowPipe(c.args, env, { delayMs: readerDelay(file.ms) });
    assert.is(piped.status, 0);
    assert.is(piped.out.length, file.out.length, `${name}: the reader got ${piped.out.length} of ${file.out.length} bytes`);
    assert.is(normal(piped.out), normal(file.out), `${name}: same length, different bytes`);
  });
}

test('publish --json: a slow pipe reader gets the whole report', async () => {
  const args = (to: string) => ['publish', '--store', store(), '--to', `dir:${to}`, '--unsigned', '--json'];
  const a = path.join(tmp, 'site-file');
  const b = path.join(tmp, 'site-pipe');
  const file = toFile(args(a), env, path.join(tmp, 'publish.out'));
  assert.is(file.status, 0, file.out.toString());
  const piped = throughSlowPipe(args(b), env, { delayMs: readerDelay(file.ms) });
  assert.is(piped.status, 0);
  // the site's path, timings, dates, the index serial (the time) and so the index's sha256 in the
  // hosts' hints differ between the two runs; nothing else may
  const norm = (out: Buffer, site: string) =>
    out
      .toString()
      .split(site)
      .join('SITE')
      .replace(/"(\w*)(ms|Ms)": \d+/g, '"$1$2": 0')
      .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'DATE')
      .replace(/serial \d+/g, 'serial N')
      .replace(/(sha256, |--index-sha256 )[0-9a-f]{64}/g, '$1HASH');
  assert.ok(file.out.length > PIPE_BYTES, `${file.out.length} bytes`);
  JSON.parse(piped.out.toString());
  assert.is(norm(piped.out, b), norm(file.out, a));
});

test('stdout and stderr each through a slow pipe of its own: nothing lost from either', () => {
  const args = ['prepare-host', '--from', store(), '--kernel', K, '--emit-script', '-'];
  const file = toFile(args, env, path.join(tmp, 'both.out'));
  const piped = throughSlowPipe(args, env, { both: true, delayMs: readerDelay(file.ms) });
  assert.is(piped.status, file.status);
  assert.ok(file.err.length > 1000, `stderr: ${file.err.length} bytes`);
  assert.ok(piped.out.equals(file.out), `stdout: ${piped.out.length} of ${file.out.length} bytes`);
  assert.ok(piped.err.equals(file.err), `stderr: ${piped.err.length} of ${file.err.length} bytes`);
});

test('the default 64 KiB pipe of a shell: `| (sleep N; cat)` gets the whole emitted script, and `sh -n` parses it', async () => {
  const script = path.join(tmp, 'p.sh');
  const args = ['prepare-host', '--from', store(), '--kernel', K, '--emit-script', '-'];
  const ref = toFile(args, env, path.join(tmp, 'p-ref.sh'));
  assert.ok(ref.out.length > 64 << 10, `${ref.out.length}`);
  const r = spawnSync('sh', ['-c', '"$@" | (sleep "$DELAY"; cat > "$OUT")', 'sh', process.execPath, CLI, ...args], {
    env: { ...env, OUT: script, DELAY: String(readerDelay(ref.ms) / 1000) },
    encoding: 'utf8',
  });
  assert.is(r.status, 0, r.stderr);
  const got = await fs.readFile(script);
  assert.is(got.length, ref.out.length);
  assert.is(spawnSync('sh', ['-n', script]).status, 0);
});

test('stdout on /dev/full: exit 1 and one line on stderr that says so, no stack trace', () => {
  for (const args of [['ci', 'github'], ['prepare-host', '--from', store(), '--kernel', K, '--emit-script', '-']]) {
    const r = spawnSync('sh', ['-c', '"$@" > /dev/full', 'sh', process.execPath, CLI, ...args], { env, encoding: 'utf8' });
    assert.is(r.status, 1, `${args[0]}: ${r.stderr}`);
    const said = r.stderr.split('\n').filter((l) => l.includes('standard output'));
    assert.equal(said, ['nbdforge: writing standard output failed: ENOSPC (no space left on device); the output is incomplete']);
    assert.not.match(r.stderr, /\n\s+at |node:internal|Error:/);
  }
});

test('a reader that goes away (| head -c 100): quiet, no stack trace, exit 141 like a tool killed by SIGPIPE', () => {
  const r = spawnSync('bash', ['-c', 'set -o pipefail; "$@" 2>"$ERR" | head -c 100 >/dev/null; echo "${PIPESTATUS[0]}"', 'sh', process.execPath, CLI, 'prepare-host', '--from', store(), '--kernel', K, '--emit-script', '-'], {
    env: { ...env, ERR: path.join(tmp, 'epipe.err') },
    encoding: 'utf8',
  });
  assert.is(r.stdout.trim(), '141');
  // stderr has the plan table that --emit-script - always writes there, and nothing else
  const err = spawnSync('cat', [path.join(tmp, 'epipe.err')], { encoding: 'utf8' }).stdout;
  assert.match(err, /^prepare-host script for kernel /m);
  assert.not.match(err, /EPIPE|\n\s+at |node:internal|Error|standard output/);
});

/** A tmpfs of `pages` pages, filled to the last byte except what `keep` leaves behind. */
async function fullFs(pages: number, keep: (dir: string) => Promise<void>): Promise<{ dir: string; done: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(tmp, 'small-'));
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${pages * 4}k,mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (m.status !== 0) throw new Error(`this test mounts a small tmpfs and needs root: ${m.stderr}`);
  await keep(dir);
  spawnSync('sh', ['-c', 'dd if=/dev/zero of="$1/fill" bs=4096 2>/dev/null; true', 'sh', dir]);
  return { dir, done: async () => void spawnSync('umount', [dir]) };
}

test('ci --output and --emit-script FILE on a full file system: non-zero, the old file intact, no partial or empty file', async () => {
  const old = '# the previous workflow\n';
  const { dir, done } = await fullFs(8, async (d) => {
    await fs.writeFile(path.join(d, 'wf.yml'), old);
    await fs.writeFile(path.join(d, 'map.sh'), old);
  });
  try {
    const cases: Array<[string, string[]]> = [
      ['wf.yml', ['ci', 'github', '--output', path.join(dir, 'wf.yml')]],
      ['new.yml', ['ci', 'github', '--output', path.join(dir, 'new.yml')]],
      ['map.sh', ['map', path.join(tmp, 'disk.img'), '--emit-script', path.join(dir, 'map.sh')]],
      ['prepare.sh', ['prepare-host', '--from', store(), '--kernel', K, '--emit-script', path.join(dir, 'prepare.sh')]],
    ];
    for (const [name, args] of cases) {
      const r = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8' });
      assert.is.not(r.status, 0, `${name}: ${r.stderr}`);
      assert.match(r.stderr, /ENOSPC|no space/i);
      const left = (await fs.readdir(dir)).sort();
      assert.equal(left, ['fill', 'map.sh', 'wf.yml'], `${name}: ${left.join(' ')}`);
      assert.is(await fs.readFile(path.join(dir, 'wf.yml'), 'utf8'), old);
      assert.is(await fs.readFile(path.join(dir, 'map.sh'), 'utf8'), old);
    }
  } finally {
    await done();
  }
});

test('--output replaces a file whole, keeps it 0644, and says it replaced it', async () => {
  const out = path.join(tmp, 'wf.yml');
  await fs.writeFile(out, 'old\n');
  const r = spawnSync(process.execPath, [CLI, 'ci', 'github', '--output', out], { env, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /replaced /);
  const st = await fs.stat(out);
  assert.is(st.mode & 0o777, 0o644);
  assert.match(await fs.readFile(out, 'utf8'), /^# /);
  assert.equal((await fs.readdir(tmp)).filter((n) => n.startsWith('wf.yml.')), []);
});

test.run();
