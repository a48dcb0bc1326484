/**
 * The image check every map and export runs on the target before qemu opens anything
 * (src/host/sh/refs.sh + src/map/sh/inspect.sh): format from --format or the file's name, the header must
 * agree, never probed; every file a layer names inside the image's directory. Run for real with
 * dash and busybox sh on images qemu-img makes here; and the one-writer check (guard.sh) on journals.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, fs, path, os } from 'zx';
import { stepProgram } from '../../src/map/steps.ts';
import { LIB } from '../../src/host/sh-library.ts';
import { checkImage, ImageRefused } from '../../src/map/image-refs.ts';

$.verbose = false;
let dir = '';
let d = '';
// dash (Debian's sh), busybox sh, and bash in POSIX mode (CentOS 7's /bin/sh is bash 4.2: the
// el7-userland tier sets NBDFORGE_TEST_SH to that bash invoked as sh)
const SHELLS = [['dash'], ['busybox', 'sh'], process.env.NBDFORGE_TEST_SH ? [process.env.NBDFORGE_TEST_SH] : ['bash', '--posix']];

async function inspect(file: string, format = '', ...allow: string[]): Promise<{ code: number; out: string }[]> {
  const res = [];
  for (const sh of SHELLS) {
    const r = await $({ nothrow: true, timeout: 10_000 })`${sh} -c ${stepProgram('inspect')} sh ${file} ${format} ${allow}`;
    res.push({ code: r.exitCode ?? -1, out: (r.stdout + r.stderr).trim() });
  }
  assert.equal(res[0], res[1], 'dash and busybox sh disagree');
  assert.equal(res[0], res[2], 'dash and bash --posix disagree');
  // the TypeScript checker (plans made where the image is) gives the same answer
  const ts = await checkImage(file, { format: format || undefined, allow }).then(
    (c) => ({ code: 0, out: `chain: ${c.chain}` }),
    (e) => {
      if (!(e instanceof ImageRefused)) throw e;
      return { code: 1, out: e.message };
    },
  );
  assert.equal(ts, res[0], `TypeScript and sh disagree on ${file}`);
  return res;
}
async function ok(file: string, chain: string, format = '', ...allow: string[]) {
  const [r] = await inspect(path.join(d, file), format, ...allow);
  assert.is(r.code, 0, r.out);
  assert.is(r.out.split('\n').pop(), `chain: ${chain}`);
}
async function refused(file: string, why: RegExp, format = '', ...allow: string[]) {
  const [r] = await inspect(file.startsWith('/') ? file : path.join(d, file), format, ...allow);
  assert.is(r.code, 1, r.out);
  assert.match(r.out, why);
  assert.is(r.out.split('\n').length, 1, `one line: ${r.out}`);
  assert.ok(r.out.length < 600, r.out);
}

test.before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-refs-'));
  d = path.join(dir, 'vm');
  await fs.mkdirp(d);
  const q = (...a: string[]) => $({ cwd: d })`qemu-img ${a}`;
  await q('create', '-q', '-f', 'raw', 'base.raw', '1M');
  await q('create', '-q', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'mid.qcow2');
  await q('create', '-q', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2');
  await fs.mkdirp(path.join(d, 'sub'));
  await q('create', '-q', '-f', 'qcow2', '-b', '../base.raw', '-F', 'raw', 'sub/up.qcow2');
  await fs.writeFile(path.join(dir, 'outside.raw'), Buffer.alloc(65536));
  await fs.symlink('../outside.raw', path.join(d, 'link.raw'));
  await q('create', '-q', '-f', 'qcow2', '-u', '-b', 'link.raw', '-F', 'raw', 'via-link.qcow2', '1M');
  await q('create', '-q', '-f', 'qcow2', '-u', '-b', '/etc/passwd', '-F', 'raw', 'passwd.qcow2', '1M');
  await q('create', '-q', '-f', 'qcow2', '-u', '-b', 'nbd:127.0.0.1:10809', '-F', 'raw', 'nbd.qcow2', '1M');
  await q('create', '-q', '-f', 'qcow2', '-u', '-b', 'http://example.com/x.raw', '-F', 'raw', 'http.qcow2', '1M');
  await q('create', '-q', '-f', 'qcow2', '-u', '-b', 'json:{"file.filename":"/etc/passwd"}', '-F', 'raw', 'json.qcow2', '1M');
  await q('create', '-q', '-f', 'qcow2', '-u', '-b', '/dev/null', '-F', 'raw', 'dev.qcow2', '1M');
  await q('create', '-q', '-f', 'qcow2', '-o', `data_file=${path.join(dir, 'outside-data.raw')},data_file_raw=on`, 'data-out.qcow2', '1M');
  await q('create', '-q', '-f', 'qcow2', '-o', 'data_file=data.raw,data_file_raw=on', 'data-in.qcow2', '1M');
  await q('create', '-q', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'nofmt.qcow2');
  const nf = await fs.readFile(path.join(d, 'nofmt.qcow2'));
  Buffer.from([0x12, 0x34, 0x56, 0x78]).copy(nf, nf.indexOf(Buffer.from([0xe2, 0x79, 0x2a, 0xca])));
  await fs.writeFile(path.join(d, 'nofmt.qcow2'), nf);
  {
    // qemu-img refuses -b without -F: make one with -F, then hide its backing format extension
    await q('create', '-q', '-f', 'qcow2', '-u', '-b', 'mid.qcow2', '-F', 'qcow2', 'nofmt-q.qcow2', '1M');
    const b = await fs.readFile(path.join(d, 'nofmt-q.qcow2'));
    Buffer.from([0x12, 0x34, 0x56, 0x78]).copy(b, b.indexOf(Buffer.from([0xe2, 0x79, 0x2a, 0xca])));
    await fs.writeFile(path.join(d, 'nofmt-q.qcow2'), b);
  }
  await q('create', '-q', '-f', 'qcow2', 'loop1.qcow2', '1M');
  await q('create', '-q', '-f', 'qcow2', '-u', '-b', 'loop1.qcow2', '-F', 'qcow2', 'loop2.qcow2', '1M');
  await q('rebase', '-q', '-u', '-f', 'qcow2', '-b', 'loop2.qcow2', '-F', 'qcow2', 'loop1.qcow2');
  const desc = (lines: string) => `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n${lines}\n`;
  await fs.writeFile(path.join(d, 'flat-out.vmdk'), desc('RW 2048 FLAT "/etc/passwd" 0'));
  await fs.writeFile(path.join(d, 'flat-in.vmdk'), desc('RW 2048 FLAT "base.raw" 0\nddb.adapterType = "ide"'));
  await fs.writeFile(path.join(d, 'flat-eq.vmdk'), desc('  RDONLY 2048 FLAT "/etc/passwd=x" 0'));
  await fs.writeFile(path.join(d, 'parent.vmdk'), desc('parentFileNameHint="/etc/passwd"\nRW 2048 FLAT "base.raw" 0'));
  await q('create', '-q', '-f', 'vmdk', '-o', 'subformat=twoGbMaxExtentFlat', 'split.vmdk', '1M');
  await q('create', '-q', '-f', 'vmdk', '-o', 'subformat=monolithicSparse', 'sparse.vmdk', '1M');
  // a sparse VMDK whose embedded descriptor names /etc/passwd (same length as the name it replaces)
  await fs.copy(path.join(d, 'sparse.vmdk'), path.join(d, 'sparse-evil.vmdk'));
  const sp = await fs.readFile(path.join(d, 'sparse-evil.vmdk'));
  const at = sp.indexOf(Buffer.from('"sparse.vmdk"'));
  Buffer.from('"/etc/passwd"').copy(sp, at);
  await fs.writeFile(path.join(d, 'sparse-evil.vmdk'), sp);
  await q('create', '-q', '-f', 'vhdx', 'v.vhdx', '1M');
  // a VHDX whose metadata table names a parent locator (qemu-img makes none: the File Parameters item's GUID replaced)
  const vx = await fs.readFile(path.join(d, 'v.vhdx'));
  const fp = Buffer.from('3767a1ca36fa434db3b633f0aa44e76b', 'hex');
  assert.ok(vx.indexOf(fp) > 0);
  Buffer.from('2d5fd3a80bb34d45abf7d3d84834ab0c', 'hex').copy(vx, vx.indexOf(fp));
  await fs.writeFile(path.join(d, 'parent.vhdx'), vx);
  // a backing format extension claiming 2 GiB (a dd of the whole image byte by byte, were it believed)
  await fs.copy(path.join(d, 'mid.qcow2'), path.join(d, 'huge-ext.qcow2'));
  const hx = await fs.readFile(path.join(d, 'huge-ext.qcow2'));
  hx.writeUInt32BE(0x7fffffff, hx.indexOf(Buffer.from('e2792aca', 'hex')) + 4);
  await fs.writeFile(path.join(d, 'huge-ext.qcow2'), hx);
  await q('create', '-q', '-f', 'vdi', 'v.vdi', '1M');
  await q('create', '-q', '-f', 'vpc', 'v.vhd', '1M');
  await q('create', '-q', '-f', 'qed', 'v.qed', '1M');
  await q('create', '-q', '-f', 'qed', '-b', 'base.raw', '-F', 'raw', 'back.qed');
  await fs.copy(path.join(d, 'passwd.qcow2'), path.join(d, 'disguised.raw'));
  await fs.copy(path.join(d, 'passwd.qcow2'), path.join(d, 'disk'));
  await fs.copy(path.join(d, 'passwd.qcow2'), path.join(d, 'disguised.img'));
  await fs.copy(path.join(d, 'base.raw'), path.join(d, 'plain.qcow2'));
  await fs.writeFile(path.join(d, 'empty.img'), '');
  await $`mkfifo ${path.join(d, 'fifo')}`;
});

test.after(async () => {
  if (dir) await fs.remove(dir);
});

test('legitimate chains pass, each layer with its pinned format; relative names as qemu reads them', async () => {
  await ok('top.qcow2', 'top.qcow2 (qcow2) <- mid.qcow2 (qcow2) <- base.raw (raw)');
  // the image's tree is its own directory: sub/up.qcow2's ../base.raw is outside it
  await refused('sub/up.qcow2', /outside the image's directory/);
  await ok('data-in.qcow2', 'data-in.qcow2 (qcow2) [data file data.raw]');
  await ok('flat-in.vmdk', 'flat-in.vmdk (vmdk) [extent base.raw]');
  await ok('split.vmdk', 'split.vmdk (vmdk) [extent split-f001.vmdk]');
  await ok('sparse.vmdk', 'sparse.vmdk (vmdk) [extent sparse.vmdk]');
  for (const f of ['v.vhdx', 'v.vdi', 'v.vhd', 'v.qed', 'base.raw']) await ok(f, `${f} (${{ vhdx: 'vhdx', vdi: 'vdi', vhd: 'vpc', qed: 'qed', raw: 'raw' }[f.split('.')[1]]})`);
});

test('references outside the tree, through links, protocols, json:, devices: refused naming them; --allow-external lets one through', async () => {
  await refused('passwd.qcow2', /names the backing file \/etc\/passwd \(\/etc\/passwd\), outside the image's directory/);
  await refused('via-link.qcow2', /names the backing file link\.raw \(.*\/outside\.raw\), outside/);
  await refused('nbd.qcow2', /names the backing file nbd:127\.0\.0\.1:10809: a protocol/);
  await refused('http.qcow2', /http:\/\/example\.com\/x\.raw: a protocol/);
  await refused('json.qcow2', /json: filename/);
  await refused('dev.qcow2', /\/dev\/null.*not a regular file/);
  await refused('data-out.qcow2', /names the external data file .*outside-data\.raw/);
  await refused('flat-out.vmdk', /names the extent \(FLAT\) \/etc\/passwd/);
  await refused('flat-eq.vmdk', /names the extent \(FLAT\) \/etc\/passwd=x/);
  await refused('parent.vmdk', /names the parent \(parentFileNameHint\) \/etc\/passwd/);
  await refused('sparse-evil.vmdk', /names the extent \(SPARSE\) \/etc\/passwd/);
  await refused('back.qed', /QED image with a backing file/);
  await refused('parent.vhdx', /VHDX differencing disk \(it has a parent locator\)/);
  await refused('huge-ext.qcow2', /a header extension names more than 1023 bytes/);
  await ok('passwd.qcow2', 'passwd.qcow2 (qcow2) <- passwd (raw)', '', '/etc/passwd');
  await ok('nbd.qcow2', 'nbd.qcow2 (qcow2) <- nbd:127.0.0.1:10809 (raw, allowed external, not inspected)', '', 'nbd:127.0.0.1:10809');
});

test('backing formats: missing one refused unless name and header agree; loops refused in one line', async () => {
  await refused('nofmt.qcow2', /names the backing file base\.raw without a backing format \(qemu would probe it\)/);
  await ok('nofmt-q.qcow2', 'nofmt-q.qcow2 (qcow2) <- mid.qcow2 (qcow2) <- base.raw (raw)');
  await refused('loop1.qcow2', /backing loop/, 'qcow2');
});

test('the format: --format or the name decides, the header must agree, a raw disk with a qcow2 header stays raw', async () => {
  const [r] = await inspect(path.join(d, 'disguised.raw'));
  assert.is(r.code, 0);
  assert.is(r.out, 'chain: disguised.raw (raw)');
  await refused('disk', /starts with a qcow2 header, but neither its name nor --format says qcow2/);
  await refused('disguised.img', /give --format qcow2 if it is one, --format raw if not/);
  await ok('disguised.img', 'disguised.img (raw)', 'raw');
  await refused('disguised.img', /outside the image's directory/, 'qcow2');
  await refused('plain.qcow2', /named as qcow2 but its header says raw/);
  await refused('base.raw', /is not qcow2/, 'qcow2');
  await refused('base.raw', /cannot check what a parallels image references/, 'parallels');
});

test('what is not an image is refused before anything reads it: FIFO (no hang), character device, empty file, directory', async () => {
  const t0 = Date.now();
  await refused('fifo', /is a FIFO, not a disk image/);
  assert.ok(Date.now() - t0 < 5000);
  await refused('/dev/zero', /\/dev\/zero is a character device/);
  await refused('empty.img', /is empty \(0 bytes\)/);
  await refused(d, /is a directory/);
});

test('one writer per image, from the journals (by device and inode, links resolved)', async () => {
  const st = path.join(dir, 'state');
  await fs.mkdirp(path.join(st, 'maps'));
  await fs.symlink('top.qcow2', path.join(d, 'top-link.qcow2'));
  const guard = async (img: string, mode: string, sro = '0') => {
    const r = await $({ nothrow: true })`dash -c ${stepProgram('guard')} sh ${st} ${img} ${mode} ${sro}`;
    return { code: r.exitCode, out: r.stdout.trim() };
  };
  const top = path.join(d, 'top.qcow2');
  const link = path.join(d, 'top-link.qcow2');
  assert.is((await guard(top, 'rw')).code, 0);
  const head = (mode: string, kind = 'map') => `{"seq":1,"ev":"info","kind":"${kind}","id":"a-1","image":"${top}","mode":"${mode}","via":"nbd"}\n`;
  await fs.writeFile(path.join(st, 'maps', 'a-1.jsonl'), head('rw'));
  let r = await guard(link, 'rw');
  assert.is(r.code, 1);
  assert.match(r.out, /already mapped \(rw, read-write: journal a-1\): one writer per image/);
  assert.is((await guard(link, 'ro', '1')).code, 1);
  await fs.writeFile(path.join(st, 'maps', 'a-1.jsonl'), head('ro', 'export'));
  r = await guard(link, 'rw');
  assert.match(r.out, /already exported \(ro: journal a-1\): a read-write use beside another is refused/);
  r = await guard(top, 'ro');
  assert.match(r.out, /give --shared-ro/);
  assert.is((await guard(top, 'ro', '1')).code, 0);
  assert.is((await guard(path.join(d, 'base.raw'), 'rw')).code, 0);
  // under the allocation lock (connect step): only journals that attached count, and not its own
  const under = async (own: string) => (await $({ nothrow: true })`dash -c ${`${LIB}\nnm_writers "$@" && echo "$NM_WHY"`} sh ${st} ${top} rw 0 ${own}`).stdout.trim();
  await fs.writeFile(path.join(st, 'maps', 'a-1.jsonl'), head('rw'));
  assert.is(await under(path.join(st, 'maps', 'b-1.jsonl')), '', 'a map that has not attached yet does not count');
  await fs.appendFile(path.join(st, 'maps', 'a-1.jsonl'), `{"seq":2,"ev":"begin","kind":"connect","dev":"/dev/nbd0","image":"${top}","format":"qcow2","mode":"rw"}\n`);
  assert.match(await under(path.join(st, 'maps', 'b-1.jsonl')), /one writer per image/);
  assert.is(await under(path.join(st, 'maps', 'a-1.jsonl')), '', 'its own journal does not count');
});

test.run();
