import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { parseAptRecords, buildCatalog } from '../../src/families/debian12/catalog.ts';
import { compareDebVersions } from '../../src/families/debian12/deb-version.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

interface Pkg {
  pkg: string;
  version: string;
  arch: 'amd64' | 'all';
  pool?: string;
  description: string[];
  upperSha?: boolean;
}

const sizeOf = (p: Pkg) => 1000 + (parseInt(sha(p.pkg + p.version).slice(0, 6), 16) % 1_000_000);
const shaOf = (p: Pkg) => sha(`${p.pkg}_${p.version}_${p.arch}.deb`);
const filenameOf = (p: Pkg) => `pool/main/l/${p.pool ?? 'linux'}/${p.pkg}_${p.version}_${p.arch}.deb`;

/** One `apt-cache show` stanza, field order and folding as apt prints them. */
function stanza(p: Pkg): string {
  const hash = shaOf(p);
  return [
    `Package: ${p.pkg}`,
    `Source: ${p.pool === 'linux-signed-amd64' ? `linux-signed-amd64 (${p.version.replace('-', '+')})` : 'linux'}`,
    `Version: ${p.version}`,
    `Installed-Size: ${Math.floor(sizeOf(p) * 4.1)}`,
    `Maintainer: Debian Kernel Team <debian-kernel@lists.debian.org>`,
    `Architecture: ${p.arch}`,
    `Depends: linux-base (>= 4.3~), kmod`,
    `Description: ${p.description[0]}`,
    ...p.description.slice(1).map((l) => ` ${l}`),
    `Description-md5: ${md5(p.description.join('\n'))}`,
    `Multi-Arch: foreign`,
    `Homepage: https://www.kernel.org/`,
    `Section: kernel`,
    `Priority: optional`,
    `Filename: ${filenameOf(p)}`,
    `Size: ${sizeOf(p)}`,
    `MD5sum: ${md5(hash)}`,
    `SHA256: ${p.upperSha ? hash.toUpperCase() : hash}`,
    '',
  ].join('\n');
}

function abiPackages(abi: number, v: string, opts: { source?: boolean; compiler?: boolean } = {}): Pkg[] {
  const krel = `6.1.0-${abi}`;
  const out: Pkg[] = [
    {
      pkg: `linux-headers-${krel}-common`,
      version: v,
      arch: 'all',
      description: [
        `Common header files for Linux ${krel}`,
        `This package provides kernel header files for version ${krel}, for sites`,
        'that want the latest kernel headers.  Please read',
        '/usr/share/doc/linux-headers-6.1.0/debian.README.gz for details.',
        '.',
        // a folded line that looks like a field must not be read as one
        'Filename: pool/main/x/evil/evil.deb',
      ],
    },
    {
      pkg: `linux-headers-${krel}-amd64`,
      version: v,
      arch: 'amd64',
      description: [`Header files for Linux ${krel}-amd64`, `This package provides the architecture-specific kernel header files for Linux`, `kernel ${krel}-amd64.`],
    },
    {
      pkg: `linux-image-${krel}-amd64`,
      version: v,
      arch: 'amd64',
      pool: 'linux-signed-amd64',
      upperSha: true,
      description: [`Linux ${krel.split('-')[0]} for 64-bit PCs (signed)`, 'The Linux kernel 6.1 and modules for use on PCs with AMD64, Intel 64 or', 'VIA Nano processors.'],
    },
  ];
  if (opts.source !== false)
    out.push({ pkg: 'linux-source-6.1', version: v, arch: 'all', description: ['Linux kernel source for version 6.1 with Debian patches', 'This package provides source code for the Linux kernel version 6.1.'] });
  if (opts.compiler !== false)
    out.push({ pkg: 'linux-compiler-gcc-12-x86', version: v, arch: 'amd64', description: ['Compiler for Linux on x86 (meta-package)', 'This package depends on GCC of the appropriate version and architecture'] });
  return out;
}

const kbuild = (v: string): Pkg => ({ pkg: 'linux-kbuild-6.1', version: v, arch: 'amd64', description: ['Kbuild infrastructure for Linux 6.1', 'This package provides the kbuild infrastructure for the headers packages for', 'Linux kernel version 6.1.'] });

// Order in the text is deliberately not the order of ABIs or versions.
const abi56 = abiPackages(56, '6.1.192-2');
const abi47 = abiPackages(47, '6.1.170-3');
const abi47old = abiPackages(47, '6.1.170-1', { compiler: false }); // the same ABI at an older upload
const abi9 = abiPackages(9, '6.1.27-1');
const abi55 = abiPackages(55, '6.1.190-1', { source: false });
const pkgs: Pkg[] = [
  ...abi56,
  abi56[0], // duplicate stanza (e.g. from bookworm and bookworm-security)
  abi56[3], // duplicate linux-source-6.1
  kbuild('6.1.176-1'),
  ...abi47old,
  ...abi47,
  kbuild('6.1.192-2'),
  ...abi55,
  ...abi9,
];
const text = pkgs.map(stanza).join('\n');

test('parseAptRecords: every stanza, only the download fields, lowercased sha256, folded lines ignored', () => {
  const recs = parseAptRecords(text);
  assert.is(recs.length, pkgs.length);
  const img = recs.find((r) => r.package === 'linux-image-6.1.0-56-amd64')!;
  assert.equal(img, {
    package: 'linux-image-6.1.0-56-amd64',
    version: '6.1.192-2',
    filename: 'pool/main/l/linux-signed-amd64/linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb',
    size: sizeOf(abi56[2]),
    sha256: shaOf(abi56[2]),
  });
  assert.ok(recs.every((r) => /^[0-9a-f]{64}$/.test(r.sha256)));
  // the folded "Filename:" line inside the description was not taken as the field
  assert.ok(recs.every((r) => r.filename.startsWith('pool/main/l/linux')), recs.map((r) => r.filename).join('\n'));
  // a whitespace-only separator line; a stanza without Filename/SHA256 (installed only) is skipped
  const two = stanza(abi9[1]) + ' \n' + 'Package: local-only\nVersion: 1.0\nStatus: install ok installed\n';
  const r2 = parseAptRecords(two);
  assert.is(r2.length, 1);
  assert.is(r2[0].filename, filenameOf(abi9[1]));
  assert.is(r2[0].sha256, shaOf(abi9[1]));
  assert.equal(parseAptRecords(''), []);
});

const cat = buildCatalog(parseAptRecords(text), '2025-01-02T03:04:05.000Z');

test('buildCatalog: complete ABIs, sorted numerically', () => {
  assert.is(cat.fetchedAt, '2025-01-02T03:04:05.000Z');
  assert.equal(
    cat.kernels.map((k) => [k.kernelRelease, k.sourceVersion]),
    [
      ['6.1.0-9-amd64', '6.1.27-1'],
      ['6.1.0-47-amd64', '6.1.170-3'],
      ['6.1.0-56-amd64', '6.1.192-2'],
    ],
  );
  assert.ok(cat.kernels.every((k) => k.family === 'debian12'));
});

test('buildCatalog: ABI 55 without linux-source-6.1 at its version is skipped with a reason', () => {
  assert.is(cat.skipped.length, 1);
  assert.is(cat.skipped[0].kernelRelease, '6.1.0-55-amd64');
  assert.ok(cat.skipped[0].reason.includes('linux-source-6.1=6.1.190-1'), cat.skipped[0].reason);
  assert.not.ok(cat.skipped[0].reason.includes('linux-image'), cat.skipped[0].reason);
  assert.not.ok(cat.kernels.some((k) => k.kernelRelease === '6.1.0-55-amd64'));
});

test('buildCatalog: file roles, versions, basenames, hashes for ABI 56 (exact kbuild)', () => {
  const k = cat.kernels.find((x) => x.kernelRelease === '6.1.0-56-amd64')!;
  assert.equal(
    k.files.map((f) => [f.role, f.name, f.version]),
    [
      ['headers-common', 'linux-headers-6.1.0-56-common', '6.1.192-2'],
      ['headers', 'linux-headers-6.1.0-56-amd64', '6.1.192-2'],
      ['kbuild', 'linux-kbuild-6.1', '6.1.192-2'],
      ['compiler', 'linux-compiler-gcc-12-x86', '6.1.192-2'],
      ['source', 'linux-source-6.1', '6.1.192-2'],
      ['image', 'linux-image-6.1.0-56-amd64', '6.1.192-2'],
    ],
  );
  const image = k.files.find((f) => f.role === 'image')!;
  assert.is(image.filename, 'linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb');
  assert.is(image.sha256, shaOf(abi56[2])); // was upper case in the apt output
  assert.is(image.size, sizeOf(abi56[2]));
  for (const f of k.files) {
    assert.not.ok(f.filename.includes('/'), f.filename);
    assert.is(f.filename, `${f.name}_${f.version}_${f.name === 'linux-source-6.1' || f.name.endsWith('-common') ? 'all' : 'amd64'}.deb`);
    assert.match(f.sha256, /^[0-9a-f]{64}$/);
    assert.is(f.sha256, sha(f.filename));
  }
});

test('buildCatalog: ABI 47 uses its newest upload and the newest kbuild when its own is gone', () => {
  const k = cat.kernels.find((x) => x.kernelRelease === '6.1.0-47-amd64')!;
  const by = Object.fromEntries(k.files.map((f) => [f.role, f]));
  assert.equal(Object.keys(by), ['headers-common', 'headers', 'kbuild', 'compiler', 'source', 'image']);
  assert.is(by['headers-common'].version, '6.1.170-3');
  assert.is(by.headers.version, '6.1.170-3');
  assert.is(by.source.version, '6.1.170-3');
  assert.is(by.image.version, '6.1.170-3');
  assert.is(by.compiler.version, '6.1.170-3');
  assert.is(by.kbuild.version, '6.1.192-2');
  assert.is(by.kbuild.filename, 'linux-kbuild-6.1_6.1.192-2_amd64.deb');
  assert.is(by.kbuild.sha256, sha('linux-kbuild-6.1_6.1.192-2_amd64.deb'));
});

test('buildCatalog: duplicates are collapsed', () => {
  assert.is(cat.kernels.filter((k) => k.kernelRelease === '6.1.0-56-amd64').length, 1);
  for (const k of cat.kernels) {
    assert.is(k.files.length, 6);
    assert.is(new Set(k.files.map((f) => f.role)).size, 6);
  }
  // a duplicate of a different content for the same package+version: the first one seen wins
  const recs = parseAptRecords(text);
  const dup = { ...recs.find((r) => r.package === 'linux-source-6.1' && r.version === '6.1.192-2')!, sha256: sha('other') };
  const c2 = buildCatalog([...recs, dup], 'now');
  assert.equal(c2, { ...cat, fetchedAt: 'now' });
});

test('buildCatalog: newest kbuild is chosen by Debian version order, not text order', () => {
  const only9 = [...abi9, kbuild('6.1.9-1'), kbuild('6.1.10-1'), kbuild('6.1.10~rc1-1')];
  const c = buildCatalog(parseAptRecords(only9.map(stanza).join('\n')), 'now');
  assert.is(c.kernels.length, 1);
  assert.is(c.kernels[0].files.find((f) => f.role === 'kbuild')!.version, '6.1.10-1');
});

test('buildCatalog: missing kbuild/compiler and no headers at all', () => {
  const c = buildCatalog(parseAptRecords(abiPackages(12, '6.1.38-1', { compiler: false }).map(stanza).join('\n')), 'now');
  assert.equal(c.kernels, []);
  assert.is(c.skipped.length, 1);
  assert.is(c.skipped[0].kernelRelease, '6.1.0-12-amd64');
  assert.match(c.skipped[0].reason, /linux-kbuild-6\.1/);
  assert.match(c.skipped[0].reason, /linux-compiler-gcc-12-x86/);
  assert.equal(buildCatalog([], 'now'), { fetchedAt: 'now', kernels: [], skipped: [] });
});

test('compareDebVersions', () => {
  const gt = (a: string, b: string) => {
    assert.ok(compareDebVersions(a, b) > 0, `${a} > ${b}`);
    assert.ok(compareDebVersions(b, a) < 0, `${b} < ${a}`);
  };
  gt('6.1.192-2', '6.1.192-1');
  gt('6.1.192-1', '6.1.190-1');
  gt('6.1.192-2', '6.1.190-1');
  gt('6.1.176-1', '6.1.170-3');
  gt('1:1.0', '2.0');
  gt('1.0', '1.0~rc1');
  gt('1.0~rc2', '1.0~rc1');
  gt('1.0~rc1', '1.0~~');
  gt('1.0a', '1.0');
  gt('1.0+', '1.0a'); // letters sort before other characters
  gt('1.0+b1', '1.0');
  gt('6.1.10', '6.1.9');
  gt('6.1.100-1', '6.1.99-9');
  gt('6.1.27-1+deb12u1', '6.1.27-1');
  gt('2.36-9+deb12u4', '2.36-9');
  gt('1.2-3-4', '1.2-3-3'); // upstream may contain '-'; the revision is after the last one
  for (const v of ['6.1.192-2', '1:2.0-1', '1.0~rc1', '1.0', '0']) assert.is(compareDebVersions(v, v), 0, v);
  assert.is(compareDebVersions('0:1.0-1', '1.0-1'), 0);
  assert.is(compareDebVersions('1.0', '1.0-0'), 0);
  assert.is(compareDebVersions('6.1.010', '6.1.10'), 0);
  const sorted = ['6.1.192-2', '6.1.9-1', '1:0.1', '6.1.10-1', '6.1.10~rc1-1', '6.1.170-3', '6.1.176-1'].sort(compareDebVersions);
  assert.equal(sorted, ['6.1.9-1', '6.1.10~rc1-1', '6.1.10-1', '6.1.170-3', '6.1.176-1', '6.1.192-2', '1:0.1']);
});

test.run();
