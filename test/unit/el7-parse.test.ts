import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { compareRpmVersions, parseRepomd, parsePackageBlock, scanPrimaryGz, joinKernels, PrimaryError, RepomdError } from '../../src/families/el/catalog/index.ts';
import { BlockScanner, attrsOf, decodeEntities, textOf } from '../../src/rpm-repo/xml-scan.ts';
import type { FoundPackage } from '../../src/families/el/catalog/catalog.ts';

const H = (c: string) => c.repeat(64);

function pkg(name: string, arch: string, rel: string, o: { href?: string; sum?: string; type?: string; size?: string; src?: string } = {}): string {
  return `<package type="rpm">
  <name>${name}</name>
  <arch>${arch}</arch>
  <version epoch="0" ver="3.10.0" rel="${rel}"/>
  <checksum type="${o.type ?? 'sha256'}" pkgid="YES">${o.sum ?? H('a')}</checksum>
  <summary>The Linux kernel &amp; friends</summary>
  <description>Not a &lt;/package&gt; end tag, and a <name>-looking text is escaped: &lt;name&gt;x&lt;/name&gt;</description>
  <packager>CentOS BuildSystem &lt;http://bugs.centos.org&gt;</packager>
  <time file="1" build="2"/>
  <size package="${o.size ?? '12345'}" installed="99" archive="100"/>
  <location href="${o.href ?? `Packages/${name}-3.10.0-${rel}.${arch}.rpm`}"/>
  <format>
    <rpm:sourcerpm>${o.src ?? `kernel-3.10.0-${rel}.src.rpm`}</rpm:sourcerpm>
    <rpm:provides><rpm:entry name="kernel-devel" flags="EQ" epoch="0" ver="3.10.0" rel="${rel}"/></rpm:provides>
    <file>/usr/src/kernels/3.10.0-${rel}.x86_64/Makefile</file>
  </format>
</package>`;
}

const wantDevel = (n: string) => n === 'kernel-devel';

test('xml helpers: entities, attributes in any quote style, element text', () => {
  assert.is(decodeEntities('a &amp; b &lt;c&gt; &#65;&#x42; &quot;&apos;'), `a & b <c> AB "'`);
  assert.throws(() => decodeEntities('&nbsp;'), /unknown XML entity/);
  assert.equal(attrsOf(`<x a="1" b='two' c = "&amp;"/>`, 'x'), { a: '1', b: 'two', c: '&' });
  assert.is(attrsOf('<xy a="1"/>', 'x'), undefined);
  assert.is(textOf('<n k="v">hi &amp; bye</n>', 'n'), 'hi & bye');
});

test('block scanner: blocks split across any chunk boundary', () => {
  const doc = `<metadata packages="3">${pkg('kernel-devel', 'x86_64', '1.el7')}<packager>x</packager>${pkg('bash', 'x86_64', '2.el7')}${pkg('kernel-devel', 'x86_64', '3.el7')}</metadata>`;
  for (const size of [1, 7, 64, 1000, doc.length]) {
    const s = new BlockScanner('<package ', '</package>');
    const blocks: string[] = [];
    for (let i = 0; i < doc.length; i += size) blocks.push(...s.push(doc.slice(i, i + size)));
    s.end();
    assert.is(blocks.length, 3, `chunk size ${size}`);
    assert.ok(blocks.every((b) => b.startsWith('<package type="rpm">') && b.endsWith('</package>')));
  }
  const s = new BlockScanner('<package ', '</package>');
  s.push('<metadata><package type="rpm"><name>x</name>');
  assert.throws(() => s.end(), /ended inside/);
});

test('package block: fields from before <format>, sourcerpm from inside it', () => {
  const r = parsePackageBlock(pkg('kernel-devel', 'x86_64', '1160.119.1.el7'), wantDevel)!;
  assert.equal(r, {
    name: 'kernel-devel',
    arch: 'x86_64',
    epoch: '0',
    ver: '3.10.0',
    rel: '1160.119.1.el7',
    sha256: H('a'),
    size: 12345,
    href: 'Packages/kernel-devel-3.10.0-1160.119.1.el7.x86_64.rpm',
    sourcerpm: 'kernel-3.10.0-1160.119.1.el7.src.rpm',
  });
  assert.is(parsePackageBlock(pkg('kernel-debug-devel', 'x86_64', '1.el7'), wantDevel), undefined);
  assert.is(parsePackageBlock(pkg('kernel-headers', 'x86_64', '1.el7'), wantDevel), undefined);
});

test('package block: weak or malformed integrity data is refused, naming the package', () => {
  assert.throws(() => parsePackageBlock(pkg('kernel-devel', 'x86_64', '1.el7', { type: 'sha' , sum: H('b').slice(0, 40) }), wantDevel), (e: Error) => e instanceof PrimaryError && /kernel-devel: checksum must be sha256/.test(e.message));
  assert.throws(() => parsePackageBlock(pkg('kernel-devel', 'x86_64', '1.el7', { sum: 'xyz' }), wantDevel), /checksum/);
  assert.throws(() => parsePackageBlock(pkg('kernel-devel', 'x86_64', '1.el7', { size: '-3' }), wantDevel), /size/);
  assert.throws(() => parsePackageBlock(pkg('kernel-devel', 'x86_64', '1.el7', { href: '../../etc/passwd' }), wantDevel), /not a path inside/);
  assert.throws(() => parsePackageBlock(pkg('kernel-devel', 'x86_64', '1.el7', { href: 'https://evil.example/x.rpm' }), wantDevel), /not a path inside/);
  assert.throws(() => parsePackageBlock(pkg('kernel-devel', 'x86_64', '1.el7').replace('<location ', '<location xml:base="https://evil.example/" '), wantDevel), /xml:base/);
});

test('primary.xml.gz is streamed; only wanted names are kept', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-primary-'));
  try {
    const filler = Array.from({ length: 3000 }, (_, i) => pkg(`pkg${i}`, 'x86_64', `${i}.el7`)).join('\n');
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" packages="3003">\n${pkg('kernel-devel', 'x86_64', '1.el7')}\n${filler}\n${pkg('kernel-devel', 'x86_64', '2.el7')}\n${pkg('kernel', 'src', '2.el7', { href: 'SPackages/kernel-3.10.0-2.el7.src.rpm' })}\n</metadata>\n`;
    const f = path.join(dir, 'primary.xml.gz');
    await fs.writeFile(f, gzipSync(xml));
    const recs = await scanPrimaryGz(f, (n) => n === 'kernel-devel' || n === 'kernel');
    assert.equal(recs.map((r) => `${r.name}.${r.arch}-${r.rel}`), ['kernel-devel.x86_64-1.el7', 'kernel-devel.x86_64-2.el7', 'kernel.src-2.el7']);
    await fs.writeFile(f, gzipSync('<html>not metadata</html>'));
    try {
      await scanPrimaryGz(f, () => true);
      assert.unreachable();
    } catch (err) {
      assert.instance(err, PrimaryError);
    }
    await fs.writeFile(f, Buffer.from('not gzip at all'));
    try {
      await scanPrimaryGz(f, () => true);
      assert.unreachable();
    } catch (err) {
      assert.instance(err, PrimaryError);
      assert.match((err as Error).message, f);
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('repomd.xml: primary entry with sha256; anything weaker is refused', () => {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo">
  <revision>1604067186</revision>
  <data type="primary">
    <checksum type="sha256">${H('c')}</checksum>
    <open-checksum type="sha256">${H('d')}</open-checksum>
    <location href="repodata/${H('c')}-primary.xml.gz"/>
    <timestamp>1604067177</timestamp>
    <size>3345283</size>
    <open-size>30114823</open-size>
  </data>
  <data type="primary_db">
    <checksum type="sha256">${H('e')}</checksum>
    <location href="repodata/${H('e')}-primary.sqlite.bz2"/>
    <size>6471466</size>
  </data>
</repomd>`;
  const md = parseRepomd(xml);
  assert.is(md.revision, '1604067186');
  assert.equal(md.data.primary, { type: 'primary', href: `repodata/${H('c')}-primary.xml.gz`, sha256: H('c'), size: 3345283, openSha256: H('d') });
  assert.ok(md.data.primary_db);
  assert.throws(() => parseRepomd(xml.replace('<checksum type="sha256">', '<checksum type="sha">')), (e: Error) => e instanceof RepomdError && /sha256/.test(e.message));
  assert.throws(() => parseRepomd('<html/>'), /not a repomd/);
});

test('join: devel pairs with its SRPM by sourcerpm within a release; leftovers are reported', () => {
  const f = (p: string, c: string) => ({ url: `https://v.example/${p}`, path: p, sha256: H(c), size: 1 });
  const mk = (release: string, repo: 'os' | 'updates', name: string, arch: string, rel: string): FoundPackage => ({
    release,
    repo,
    rec: { name, arch, epoch: '0', ver: '3.10.0', rel, sha256: H('a'), size: 1, href: 'x', sourcerpm: arch === 'src' ? undefined : `kernel-3.10.0-${rel}.src.rpm` },
    file: f(`${release}/${repo}/${arch === 'src' ? 'Source' : 'x86_64'}/${name}-${rel}`, arch === 'src' ? 'b' : 'c'),
  });
  const srpms = [mk('7.9.2009', 'os', 'kernel', 'src', '1160.el7'), mk('7.9.2009', 'updates', 'kernel', 'src', '1160.2.1.el7'), mk('7.9.2009', 'updates', 'kernel', 'src', '1160.10.1.el7'), mk('7.8.2003', 'os', 'kernel', 'src', '1127.el7')];
  const devels = [
    mk('7.9.2009', 'updates', 'kernel-devel', 'x86_64', '1160.10.1.el7'),
    mk('7.9.2009', 'os', 'kernel-devel', 'x86_64', '1160.el7'),
    mk('7.9.2009', 'updates', 'kernel-devel', 'x86_64', '1160.2.1.el7'),
    mk('7.8.2003', 'os', 'kernel-devel', 'x86_64', '1160.el7'), // SRPM lives in another release: not paired
  ];
  const { kernels, unpaired } = joinKernels(['7.8.2003', '7.9.2009'], srpms, devels, { family: 'el7', source: 'kernel' });
  assert.equal(kernels.map((k) => `${k.release} ${k.repo} ${k.kernelRelease}`), [
    '7.9.2009 os 3.10.0-1160.el7.x86_64',
    '7.9.2009 updates 3.10.0-1160.2.1.el7.x86_64',
    '7.9.2009 updates 3.10.0-1160.10.1.el7.x86_64',
  ]);
  assert.is(kernels[1].version, '3.10.0-1160.2.1.el7');
  assert.is(kernels[1].srpm.path, '7.9.2009/updates/Source/kernel-1160.2.1.el7');
  assert.equal(unpaired, ['7.8.2003/os/Source/kernel-1127.el7', '7.8.2003/os/x86_64/kernel-devel-1160.el7']);
});

test('rpm version order', () => {
  const sorted = ['3.10.0-1160.2.1.el7', '3.10.0-1160.el7', '3.10.0-1160.119.1.el7', '3.10.0-1127.19.1.el7', '3.10.0-1160.10.1.el7', '3.10.0-123.el7'].sort(compareRpmVersions);
  assert.equal(sorted, ['3.10.0-123.el7', '3.10.0-1127.19.1.el7', '3.10.0-1160.el7', '3.10.0-1160.2.1.el7', '3.10.0-1160.10.1.el7', '3.10.0-1160.119.1.el7']);
  assert.is(compareRpmVersions('1.0', '1.0'), 0);
});

test.run();
