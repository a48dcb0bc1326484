/**
 * The export step (src/map/sh/export.sh) run for real on this machine with dash and the real
 * qemu-nbd (no nbd module needed to serve): the default socket in its own 0700 directory under a
 * root-only base, another user (uid 65534, through setpriv) refused, --socket-group, a base another
 * user could write refused, --bind names resolved before deciding loopback, and --stop (the unmap
 * step) never deleting a file planted at the socket's path.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, fs, path, os } from 'zx';
import { stepProgram } from '../../src/map/steps.ts';
import { testShell } from './test-shell.ts';

const SH = testShell('dash');

$.verbose = false;
let dir = '';
let img = '';

// STATE ID IMAGE FORMAT BIND PORT SOCKET PERSISTENT SHARED READONLY URL GROUP AUTO_SOCKET
const serve = (id: string, o: { bind?: string; port?: string; sock?: string; group?: string; auto?: boolean; ro?: boolean }) =>
  $({ nothrow: true, quiet: true, timeout: 30_000 })`${SH} -c ${stepProgram('export')} sh ${path.join(dir, 'state')} ${id} ${img} raw ${o.bind ?? '127.0.0.1'} ${o.port ?? '10809'} ${o.sock ?? ''} 1 1 ${o.ro === false ? '0' : '1'} x ${o.group ?? ''} ${o.auto ? '1' : '0'} 0`;
const stop = () => $({ nothrow: true, quiet: true, timeout: 30_000 })`${SH} -c ${stepProgram('unmap')} sh ${path.join(dir, 'state')} all 0`;
const asNobody = (cmd: string) => $({ nothrow: true, quiet: true, timeout: 20_000 })`setpriv --reuid 65534 --regid 65534 --clear-groups sh -c ${cmd}`;
const mode = async (p: string) => ((await fs.stat(p)).mode & 0o777).toString(8);

test.before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-export-'));
  await fs.chmod(dir, 0o755);
  img = path.join(dir, 'disk.raw');
  await fs.writeFile(img, Buffer.alloc(1 << 20, 7));
});

test.after(async () => {
  await stop();
  if (dir) await fs.remove(dir);
});

test('default: a socket in its own 0700 directory under a root-only base; uid 65534 cannot connect; root reads', async () => {
  const sock = path.join(dir, 'run', 'export-a', 'nbd.sock');
  const r = await serve('export-a', { sock, auto: true });
  assert.is(r.exitCode, 0, r.stdout + r.stderr);
  assert.is(await mode(path.join(dir, 'run')), '711');
  assert.is(await mode(path.dirname(sock)), '700');
  assert.ok((await fs.stat(sock)).isSocket());
  const url = `nbd+unix:///?socket=${sock}`;
  assert.match((await $`qemu-img info ${url}`).stdout, /virtual size: 1 MiB/);
  const n = await asNobody(`qemu-img info '${url}'`);
  assert.is.not(n.exitCode, 0);
  assert.match(n.stderr, /Permission denied/);
  // read-only: root's own write is refused by the server
  assert.is.not((await $({ nothrow: true, quiet: true })`qemu-img convert -n -f raw -O raw /etc/hostname ${url}`).exitCode, 0);
  assert.is((await stop()).exitCode, 0);
  assert.not.ok(await fs.pathExists(path.dirname(sock)), 'the export directory is removed at stop');
});

test('--socket-group: members connect (socket 0660, directory 0750), others still cannot', async () => {
  const sock = path.join(dir, 'run', 'export-g', 'nbd.sock');
  const r = await serve('export-g', { sock, auto: true, group: 'nogroup' });
  assert.is(r.exitCode, 0, r.stdout + r.stderr);
  assert.is(await mode(sock), '660');
  assert.is(await mode(path.dirname(sock)), '750');
  const url = `nbd+unix:///?socket=${sock}`;
  assert.is((await asNobody(`qemu-img info '${url}'`)).exitCode, 0, 'a member of nogroup (65534) connects');
  const other = await $({ nothrow: true, quiet: true })`setpriv --reuid 65533 --regid 65533 --clear-groups qemu-img info ${url}`;
  assert.is.not(other.exitCode, 0);
  assert.is((await stop()).exitCode, 0);
});

test('a socket base another user can write is refused; nothing is served', async () => {
  const base = path.join(dir, 'open');
  await fs.mkdirp(base);
  await fs.chmod(base, 0o777);
  const r = await serve('export-o', { sock: path.join(base, 'export-o', 'nbd.sock'), auto: true });
  assert.is(r.exitCode, 1);
  assert.match(r.stdout, /is writable by others: refusing to put sockets there/);
  assert.not.ok(await fs.pathExists(path.join(base, 'export-o')));
});

test('--bind: a name is resolved first (127.0.0.1.example.com is not loopback); TCP warns', async () => {
  const r = await serve('export-n', { bind: '127.0.0.1.example.com', port: '10871' });
  assert.is(r.exitCode, 1);
  assert.match(r.stdout, /--bind 127\.0\.0\.1\.example\.com: cannot resolve it on this host/);
  const l = await serve('export-l', { bind: '127.0.0.1', port: String(20000 + Math.floor(Math.random() * 20000)) });
  assert.is(l.exitCode, 0, l.stdout + l.stderr);
  assert.match(l.stderr, /warning: served over TCP on 127\.0\.0\.1 port \d+: every local user can connect/);
  await stop();
});

test('--stop removes only a socket: a file planted at the socket path after start is kept', async () => {
  const sock = path.join(dir, 'mine.sock');
  const r = await serve('export-p', { sock });
  assert.is(r.exitCode, 0, r.stdout + r.stderr);
  assert.ok((await fs.stat(sock)).isSocket());
  assert.is(await mode(sock), '700', 'made under umask 077');
  await fs.remove(sock);
  await fs.writeFile(sock, 'planted\n');
  assert.is((await stop()).exitCode, 0);
  assert.is(await fs.readFile(sock, 'utf8'), 'planted\n');
});

test.run();
