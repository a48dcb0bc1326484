/**
 * map / unmap through the local runner (Node on this machine, no emitted script): this host has loop
 * devices and ext4 but no nbd and no device-mapper, so it maps a raw image's partition with --loop
 * --offset, reads the --json report, and checks the refusals that need no nbd at all.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, fs, path, os } from 'zx';
import { Writable } from 'node:stream';
import { main } from '../../src/cli.ts';

$.verbose = false;
let dir = '';
let image = '';
const state = () => path.join(dir, 'state');
const root = () => path.join(dir, 'mnt');

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write: (c, _e, cb) => (f(c.toString()), cb()) }) as unknown as NodeJS.WriteStream;
  const code = await main(args, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) });
  return { code, out, err };
}

async function nothingLeft(what: string): Promise<void> {
  const loops = (await $`losetup -j ${image}`).stdout.trim();
  assert.is(loops, '', `${what}: loop device left: ${loops}`);
  const mounts = (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').filter((l: string) => l.includes(dir));
  assert.equal(mounts, [], `${what}: mounts left`);
  const journals = (await fs.pathExists(path.join(state(), 'maps'))) ? (await fs.readdir(path.join(state(), 'maps'))).filter((f: string) => f.endsWith('.jsonl')) : [];
  assert.equal(journals, [], `${what}: journals left`);
  assert.not.ok(await fs.pathExists(root()), `${what}: mount root left`);
}

test.before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-map-local-'));
  image = path.join(dir, 'disk.raw');
  await fs.mkdirp(path.join(dir, 'content'));
  await fs.writeFile(path.join(dir, 'content', 'hello.txt'), 'local-p1-content\n');
  await $`truncate -s 48M ${image}`;
  await $({ input: 'label: dos\nstart=2048, size=32768, type=83\n' })`sfdisk -q ${image}`;
  await $`mkfs.ext4 -q -F -L local-p1 -d ${path.join(dir, 'content')} ${path.join(dir, 'p1.ext4')} 16M`;
  await $`dd if=${path.join(dir, 'p1.ext4')} of=${image} bs=1M seek=1 conv=notrunc status=none`;
  await fs.writeFile(path.join(dir, 'notimage.txt'), 'plain text\n'.repeat(200));
});

test.after(async () => {
  await cli('unmap', '--all', '--state-dir', state());
  await fs.remove(dir);
});

test('--loop --offset through the local runner: --json report, the file, unmap leaves nothing, the image unchanged', async () => {
  const before = (await $`sha256sum ${image}`).stdout.split(' ')[0];
  const r = await cli('map', '--loop', '--offset', '2048s', '--state-dir', state(), '--mount-root', root(), '--json', image);
  assert.is(r.code, 0, r.out + r.err);
  const rep = JSON.parse(r.out);
  assert.is(rep.result.outcome, 'changed');
  assert.is(rep.map.format, 'raw');
  assert.match(rep.map.device, /^\/dev\/loop\d+$/);
  assert.equal(
    rep.map.filesystems.map((f: { type: string; label: string; dir: string; opts: string }) => [f.type, f.label, f.dir, f.opts]),
    [['ext4', 'local-p1', path.join(root(), 'disk'), 'ro,noload,errors=remount-ro,nosuid,nodev,noexec']],
  );
  assert.is(await fs.readFile(path.join(root(), 'disk', 'hello.txt'), 'utf8'), 'local-p1-content\n');
  const u = await cli('unmap', image, '--state-dir', state());
  assert.is(u.code, 0, u.out + u.err);
  assert.match(u.out, /unmounted .*\/disk\n.*detached \/dev\/loop\d+/s);
  await nothingLeft('after unmap');
  assert.is((await $`sha256sum ${image}`).stdout.split(' ')[0], before, 'read-only loop map changed the image');
});

test('refusals with nothing touched: no nbd on this host (says prepare-host), missing file; a text file is not an image', async () => {
  const nbd = await cli('map', '--state-dir', state(), image);
  if (!(await fs.pathExists('/sys/module/nbd'))) {
    assert.is(nbd.code, 3, nbd.err);
    assert.match(nbd.err, /nbd module is not loaded.*nbdforge prepare-host/);
  }
  const missing = await cli('map', '--loop', '--state-dir', state(), path.join(dir, 'missing.raw'));
  assert.is(missing.code, 3);
  assert.match(missing.err, /no such image/);
  const text = await cli('map', '--loop', '--state-dir', state(), '--mount-root', root(), path.join(dir, 'notimage.txt'));
  assert.is(text.code, 1);
  assert.match(text.err, /is not a disk image/);
  const usage = await cli('map', '--rw', '--snapshot', image);
  assert.is(usage.code, 2);
  await nothingLeft('after the refusals');
});

test.run();
