/**
 * The el families' cpio reader (RPM payloads): what a kernel RPM holds is written, nothing a hostile
 * archive names lands outside the destination. Archives are made here byte by byte in the newc
 * format rpm2cpio writes, so every hostile shape can be expressed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { extractCpio, PayloadError } from '../../src/families/el/cpio-extract.ts';

interface Member {
  name: string;
  mode: number;
  data?: string;
  ino?: number;
  nlink?: number;
}
const REG = 0o100644;
const DIR = 0o040755;
const LNK = 0o120777;

function newc(members: Member[], trailer = true): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const entry = (m: Member, i: number) => {
    const data = Buffer.from(m.data ?? '');
    const name = Buffer.from(`${m.name}\0`);
    const fields = [m.ino ?? i + 1, m.mode, 0, 0, m.nlink ?? 1, 0, data.length, 0, 0, 0, 0, name.length, 0];
    const head = Buffer.from(`070701${fields.map(hex).join('')}`, 'latin1');
    parts.push(head, name, pad(head.length + name.length), data, pad(data.length));
  };
  members.forEach(entry);
  if (trailer) entry({ name: 'TRAILER!!!', mode: 0 }, members.length);
  return Buffer.concat(parts);
}

let tmp = '';
let n = 0;
test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-cpio-'));
});
test.after(() => fs.rm(tmp, { recursive: true, force: true }));

/** Extract `members` into a fresh directory inside a fresh sandbox; returns both. */
async function run(members: Member[], o: { trailer?: boolean; maxBytes?: number } = {}) {
  const box = path.join(tmp, `box-${n++}`);
  const dest = path.join(box, 'dest');
  await fs.mkdir(dest, { recursive: true });
  const file = path.join(box, 'payload.cpio');
  await fs.writeFile(file, newc(members, o.trailer ?? true));
  const want = (name: string) => name === 'boot/vmlinuz-R' || name.startsWith('lib/modules/R/');
  const result = extractCpio(file, dest, { want, what: 'kernel-R.rpm', maxBytes: o.maxBytes });
  return { box, dest, result };
}
const tree = async (d: string) => ((await fs.readdir(d, { recursive: true })) as string[]).sort();

test('a kernel package: vmlinuz and the module tree written, other members and symlinks not; hard links kept', async () => {
  const { dest, result } = await run([
    { name: '.', mode: DIR },
    { name: './boot', mode: DIR },
    { name: './boot/vmlinuz-R', mode: 0o100755, data: 'kernel image' },
    { name: './boot/System.map-R', mode: REG, data: 'not wanted' },
    { name: './etc/ld.so.conf.d/kernel.conf', mode: REG, data: 'not wanted' },
    { name: './lib/modules/R/kernel/drivers/a.ko', mode: REG, data: 'module a' },
    { name: './lib/modules/R/build', mode: LNK, data: '/usr/src/kernels/R' },
    { name: './lib/modules/R/one', mode: REG, ino: 77, nlink: 2 },
    { name: './lib/modules/R/two', mode: REG, ino: 77, nlink: 2, data: 'linked' },
  ]);
  assert.equal(await result, { files: 3, bytes: 'kernel image'.length + 'module a'.length + 'linked'.length, skippedLinks: 1 });
  assert.equal(await tree(dest), ['boot', 'boot/vmlinuz-R', 'lib', 'lib/modules', 'lib/modules/R', 'lib/modules/R/kernel', 'lib/modules/R/kernel/drivers', 'lib/modules/R/kernel/drivers/a.ko', 'lib/modules/R/one', 'lib/modules/R/two']);
  assert.is(await fs.readFile(path.join(dest, 'lib/modules/R/one'), 'utf8'), 'linked');
  assert.is((await fs.stat(path.join(dest, 'boot/vmlinuz-R'))).mode & 0o777, 0o755);
  assert.is((await fs.stat(path.join(dest, 'lib/modules/R/kernel/drivers/a.ko'))).mode & 0o777, 0o644);
});

for (const [what, name] of [
  ['a `..` member', './lib/modules/R/../../../../escape'],
  ['an absolute member', '/lib/modules/R/abs'],
  ['a `..` member the package does not even want', './usr/share/../../../escape'],
]) {
  test(`${what} refuses the whole archive, nothing written outside`, async () => {
    const { box, dest, result } = await run([
      { name: './lib/modules/R/ok.ko', mode: REG, data: 'fine' },
      { name, mode: REG, data: 'hostile' },
    ]);
    const err = await result.catch((e: unknown) => e);
    assert.instance(err, PayloadError);
    assert.match((err as Error).message, /^refusing kernel-R\.rpm: archive member ".*" leaves the extraction directory$/);
    assert.equal(await tree(box), ['dest', 'dest/lib', 'dest/lib/modules', 'dest/lib/modules/R', 'dest/lib/modules/R/ok.ko', 'payload.cpio']);
  });
}

test('a symlink out of the tree and a file "through" it: the link is never made, the file stays inside', async () => {
  const outside = path.join(tmp, `outside-${n}`);
  await fs.mkdir(outside);
  const { dest, result } = await run([
    { name: './lib/modules/R/x', mode: LNK, data: outside },
    { name: './lib/modules/R/x/pwned', mode: REG, data: 'through the link' },
  ]);
  await result;
  assert.equal(await fs.readdir(outside), []);
  assert.ok((await fs.lstat(path.join(dest, 'lib/modules/R/x'))).isDirectory());
});

test('a member twice, a truncated archive, too many bytes: refused', async () => {
  const twice = await run([
    { name: './boot/vmlinuz-R', mode: REG, data: 'first' },
    { name: './boot/vmlinuz-R', mode: REG, data: 'second' },
  ]);
  assert.match(String(await twice.result.catch((e: Error) => e.message)), /^refusing kernel-R\.rpm: a member appears twice/);
  assert.is(await fs.readFile(path.join(twice.dest, 'boot/vmlinuz-R'), 'utf8'), 'first');
  const cut = await run([{ name: './boot/vmlinuz-R', mode: REG, data: 'x' }], { trailer: false });
  assert.match(String(await cut.result.catch((e: Error) => e.message)), /ends inside a cpio header/);
  const big = await run([{ name: './boot/vmlinuz-R', mode: REG, data: 'x'.repeat(100) }], { maxBytes: 99 });
  assert.match(String(await big.result.catch((e: Error) => e.message)), /more than 99 bytes to unpack/);
});

test('the format rpm2cpio writes: a real cpio -o -H newc archive reads the same', async () => {
  const src = path.join(tmp, `src-${n++}`);
  await fs.mkdir(path.join(src, 'lib/modules/R/kernel'), { recursive: true });
  await fs.mkdir(path.join(src, 'boot'));
  await fs.writeFile(path.join(src, 'boot/vmlinuz-R'), Buffer.alloc(70_001, 7));
  await fs.writeFile(path.join(src, 'lib/modules/R/kernel/b.ko'), 'b');
  const file = path.join(tmp, `real-${n++}.cpio`);
  await $({ cwd: src, quiet: true })`find . | LC_ALL=C sort | cpio -o -H newc --quiet > ${file}`;
  const dest = path.join(tmp, `real-dest-${n++}`);
  await fs.mkdir(dest);
  const r = await extractCpio(file, dest, { want: (x) => x === 'boot/vmlinuz-R' || x.startsWith('lib/modules/R/'), what: 'real' });
  assert.is(r.files, 2);
  assert.equal(await fs.readFile(path.join(dest, 'boot/vmlinuz-R')), Buffer.alloc(70_001, 7));
  assert.is(await fs.readFile(path.join(dest, 'lib/modules/R/kernel/b.ko'), 'utf8'), 'b');
});

test.run();
