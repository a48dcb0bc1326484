/**
 * The emitted map/unmap/export step programs, run by bash 4.2 in POSIX mode (CentOS 7's /bin/sh) with
 * the CentOS 7 userland built from upstream sources (scripts/el7-userland.ts: util-linux 2.23.2,
 * lvm2 2.02.187) and the qemu 1.5.3 stand-in (scripts/vm/el7-standin/) first on PATH; and again with
 * this machine's modern qemu, so that each run-time detection is proven both ways. Real qemu-nbd
 * servers on a unix socket and on 127.0.0.1, read by a real qemu-img client.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stepProgram } from '../../src/map/steps.ts';
import { LIB } from '../../src/host/sh-library.ts';
import { ensureEl7Userland } from '../../scripts/el7-userland.ts';
import { Writable } from 'node:stream';
import { main } from '../../src/cli.ts';

/** The real command, in-process: `nbdforge ARGS...`; its exit status and what it printed. */
async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const sink = new Writable({ write: (c, _e, cb) => ((out += c.toString()), cb()) }) as unknown as NodeJS.WriteStream;
  const code = await main(args, { stdout: sink, stderr: sink });
  return { code, out };
}

const EL7 = path.join(ensureEl7Userland(), 'bin');
const STANDIN = path.resolve(import.meta.dirname, '../../scripts/vm/el7-standin');
const SH = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-el7-sh-')), 'sh');
fs.symlinkSync(path.join(EL7, 'bash'), SH); // bash started as `sh` runs in POSIX mode, as /bin/sh on CentOS 7
// LVM_DID_EXEC: lvm 2.02's static binary otherwise re-executes a dynamic /sbin/lvm when there is one
const env = (old: boolean) => ({ ...process.env, LVM_DID_EXEC: 'lvm', PATH: `${old ? `${STANDIN}:` : ''}${EL7}:${process.env.PATH}` });

function run(old: boolean, program: string, ...args: string[]) {
  const r = spawnSync(SH, ['-c', program, 'sh', ...args], { encoding: 'utf8', env: env(old), timeout: 60_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}
const readClient = (url: string) => spawnSync('/usr/bin/qemu-img', ['info', '-U', url], { encoding: 'utf8', timeout: 20_000 });

function box() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-el7-'));
  const img = path.join(dir, 'disk.qcow2');
  assert.is(spawnSync('/usr/bin/qemu-img', ['create', '-q', '-f', 'qcow2', img, '32M']).status, 0);
  const raw = path.join(dir, 'disk.raw');
  fs.writeFileSync(raw, Buffer.alloc(0));
  fs.truncateSync(raw, 16 << 20);
  assert.is(spawnSync('mkfs.ext4', ['-q', '-F', raw]).status, 0);
  return { dir, img, raw, state: path.join(dir, 'state') };
}

test('the tools really are the CentOS 7 versions', () => {
  assert.match(spawnSync(SH, ['-c', 'echo $BASH_VERSION'], { encoding: 'utf8' }).stdout, /^4\.2\./);
  assert.match(spawnSync(path.join(EL7, 'lvm'), ['version'], { encoding: 'utf8', env: env(true) }).stdout, /LVM version:\s+2\.02\.187/);
  assert.match(spawnSync(path.join(EL7, 'losetup'), ['--version'], { encoding: 'utf8' }).stdout, /2\.23\.2/);
  assert.match(spawnSync('qemu-nbd', ['-V'], { encoding: 'utf8', env: env(true) }).stdout, /version 0\.0\.1/);
  assert.match(spawnSync('qemu-nbd', ['--fork'], { encoding: 'utf8', env: env(true) }).stderr, /unrecognized option '--fork'/);
  assert.match(spawnSync('qemu-img', ['info', '-U', '/dev/null'], { encoding: 'utf8', env: env(true) }).stderr, /invalid option -- 'U'/);
});

for (const old of [true, false]) {
  const q = old ? 'qemu 1.5.3 stand-in' : 'modern qemu';
  test(`export --socket with ${q}: served in the background, pid recorded, a client reads through the socket, unmap stops it`, () => {
    const b = box();
    try {
      const sock = path.join(b.dir, 'nbd.sock');
      const r = run(old, stepProgram('export'), b.state, 'e1', b.img, '', '127.0.0.1', '10809', sock, '1', '1', '1', `nbd+unix:///?socket=${sock}`);
      assert.is(r.status, 0, r.out + r.err);
      const pid = fs.readFileSync(path.join(b.state, 'maps/e1.pid'), 'utf8').trim();
      assert.ok(fs.existsSync(`/proc/${pid}`), `server pid ${pid} alive`);
      const c = readClient(`nbd+unix:///?socket=${sock}`);
      assert.match(c.stdout, /virtual size: 32 MiB/, c.stderr);
      const u = run(old, stepProgram('unmap'), b.state, 'all', '0');
      assert.is(u.status, 0, u.out + u.err);
      assert.match(u.out, /stopped the qemu-nbd server/);
      assert.not.ok(fs.existsSync(`/proc/${pid}`), 'server stopped');
      assert.not.ok(fs.existsSync(sock), 'socket removed');
      assert.equal(fs.readdirSync(path.join(b.state, 'maps')), []);
    } finally {
      fs.rmSync(b.dir, { recursive: true, force: true });
    }
  });

  test(`export of a raw image (format detected by qemu-img ${old ? 'without -U' : 'with -U'}) on 127.0.0.1 with --shared 0, ${q}`, () => {
    const b = box();
    const port = String(20000 + Math.floor(Math.random() * 20000));
    try {
      const r = run(old, stepProgram('export'), b.state, 'e2', b.raw, '', '127.0.0.1', port, '', '1', '0', '1', `nbd://127.0.0.1:${port}`);
      assert.is(r.status, 0, r.out + r.err);
      assert.match(fs.readFileSync(path.join(b.state, 'maps/e2.jsonl'), 'utf8'), /"format":"raw"/);
      const c = readClient(`nbd://127.0.0.1:${port}`);
      assert.match(c.stdout, /virtual size: 16 MiB/, c.stderr);
      assert.is(run(old, stepProgram('unmap'), b.state, 'all', '0').status, 0);
    } finally {
      fs.rmSync(b.dir, { recursive: true, force: true });
    }
  });
}

test('no image locking (1.5): an image another process holds open is refused, nothing served; the image is served once it is free', async () => {
  const b = box();
  const fd = fs.openSync(b.img, 'r+');
  const holder = spawn('sleep', ['60'], { stdio: [fd, 'ignore', 'ignore'] });
  fs.closeSync(fd); // only the holder has the image open now
  try {
    await new Promise((ok) => setTimeout(ok, 200));
    const sock = path.join(b.dir, 'held.sock');
    const r = run(true, stepProgram('export'), b.state, 'e3', b.img, 'qcow2', '127.0.0.1', '1', sock, '1', '1', '1', 'x');
    assert.is(r.status, 1, r.out + r.err);
    assert.match(r.out, new RegExp(`is in use by process ${holder.pid} \\(sleep\\)`));
    assert.not.ok(fs.existsSync(sock), 'nothing served');
    holder.kill('SIGKILL');
    await new Promise((ok) => holder.once('exit', ok));
    fs.rmSync(b.state, { recursive: true, force: true });
    const again = run(true, stepProgram('export'), b.state, 'e3', b.img, 'qcow2', '127.0.0.1', '1', sock, '1', '1', '1', 'x');
    assert.is(again.status, 0, again.out + again.err);
    assert.is(run(true, stepProgram('unmap'), b.state, 'all', '0').status, 0);
  } finally {
    holder.kill('SIGKILL');
    fs.rmSync(b.dir, { recursive: true, force: true });
  }
});

test('lvm 2.02 is given only the config keys it knows (no "unknown" warnings); lvm 2.03 gets use_devicesfile and event_activation', () => {
  const prog = `${LIB}\nnm_lvm_cfg a '^/dev/nbd0$'; printf '%s\\n' "$NM_CFG"; lvm config --config "$NM_CFG" devices/filter`;
  const el7 = run(true, prog);
  assert.not.match(el7.out, /use_devicesfile|event_activation/);
  assert.not.match(el7.err, /unknown/, el7.err);
  assert.match(el7.out, /filter=\["a\|\^\/dev\/nbd0\$\|","r\|\.\*\|"\]/);
  const modern = spawnSync(SH, ['-c', `${LIB}\nnm_lvm_cfg a x; printf '%s\\n' "$NM_CFG"`], { encoding: 'utf8', env: { ...process.env, PATH: `/usr/sbin:/sbin:${process.env.PATH}` } });
  assert.match(modern.stdout, /use_devicesfile=0/);
});

test('a missing pid file is read quietly (redirection order: 2>/dev/null before < FILE)', () => {
  const b = box();
  try {
    fs.mkdirSync(path.join(b.state, 'maps'), { recursive: true });
    const j = [
      `{"seq":1,"ev":"info","kind":"export","id":"e4","image":"${b.img}","format":"qcow2","mode":"ro","url":"x"}`,
      `{"seq":2,"ev":"begin","kind":"export","image":"${b.img}","pidfile":"${b.state}/maps/e4.pid","socket":"","url":"x"}`,
    ];
    fs.writeFileSync(path.join(b.state, 'maps/e4.jsonl'), j.join('\n') + '\n');
    const u = run(true, stepProgram('unmap'), b.state, 'all', '0');
    assert.is(u.status, 0, u.out + u.err);
    assert.is(u.err, '', 'nothing on stderr');
  } finally {
    fs.rmSync(b.dir, { recursive: true, force: true });
  }
});

test('emitted export / unmap scripts (driver, preconditions, steps) run whole under bash 4.2 with the stand-in; map --dry-run changes nothing; emitted map parses', async () => {
  const b = box();
  try {
    const sock = path.join(b.dir, 'whole.sock');
    const exp = path.join(b.dir, 'export.sh');
    const unm = path.join(b.dir, 'unmap.sh');
    const state = ['--state-dir', b.state];
    assert.is((await cli('export', b.img, '--socket', sock, '--read-only', '--persistent', ...state, '--emit-script', exp)).code, 0);
    assert.is((await cli('unmap', '--all', ...state, '--emit-script', unm)).code, 0);
    const r = spawnSync(SH, [exp], { encoding: 'utf8', env: env(true), timeout: 60_000 });
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /@nbdforge outcome changed/);
    assert.match(readClient(`nbd+unix:///?socket=${sock}`).stdout, /virtual size: 32 MiB/);
    const u = spawnSync(SH, [unm], { encoding: 'utf8', env: env(true), timeout: 60_000 });
    assert.is(u.status, 0, u.stdout + u.stderr);
    assert.not.ok(fs.existsSync(sock), 'server stopped, socket gone');
    const dry = await cli('map', '--dry-run', ...state, b.img);
    // the checks run here: exit 3 (would refuse) unless this host has nbd loaded
    const nbd = spawnSync('sh', ['-c', '[ -d /sys/module/nbd ] || [ -b /dev/nbd0 ]']).status === 0;
    if (!nbd) assert.is(dry.code, 3, dry.out);
    assert.match(dry.out, /^map .* on local: dry run$/m);
    assert.match(dry.out, nbd ? /^dry run: nothing changed/m : /^dry run: nothing changed; would refuse: the nbd module is not loaded/m);
    assert.equal(fs.readdirSync(path.join(b.state, 'maps')), [], 'dry run wrote no journal');
    const mapSh = path.join(b.dir, 'map.sh');
    assert.is((await cli('map', '--loop', ...state, b.raw, '--emit-script', mapSh)).code, 0);
    const n = spawnSync(SH, ['-n', mapSh], { encoding: 'utf8' });
    assert.is(n.status, 0, n.stderr);
  } finally {
    fs.rmSync(b.dir, { recursive: true, force: true });
  }
});

test.run();
