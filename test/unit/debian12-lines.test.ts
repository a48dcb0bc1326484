/**
 * kernels/debian12/lines.json joined with real apt records: test/unit/debian12-apt-records-2026-11-28.txt.gz
 * is the output of containers/debian12/catalog.sh (`apt-cache show` of every package lines.json names)
 * against Debian bookworm + bookworm-security on 2026-11-28, gzipped as captured.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildCatalog, parseAptRecords, type Debian12Kernel } from '../../src/families/debian12/catalog.ts';
import { aptQuery, loadLines, parseLines, LINES_FILE } from '../../src/families/debian12/lines.ts';
import { createDebian12 } from '../../src/families/debian12/index.ts';
import { loadModuleSpec } from '../../src/module-spec/module-spec.ts';
import { resolvePaths } from '../../src/paths.ts';
import type { FamilyContext } from '../../src/families/family.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const text = zlib.gunzipSync(fs.readFileSync(path.join(here, 'debian12-apt-records-2026-11-28.txt.gz'))).toString();
const records = parseAptRecords(text);
const data = loadLines();
const cat = buildCatalog(records, 'then', data);
const kernels = cat.kernels as Debian12Kernel[];
const byRelease = new Map(kernels.map((k) => [k.kernelRelease, k]));
const of = (krel: string, role: string) => byRelease.get(krel)!.files.find((f) => f.role === role)!;

test('every line and flavour, group by group in lines.json order, oldest first, the stock kernel last', () => {
  const groups = [...new Set(kernels.map((k) => `${k.line}/${k.flavour}`))];
  assert.equal(groups, ['6.12/cloud-amd64', '6.12/rt-amd64', '6.12/amd64', '6.1/cloud-amd64', '6.1/rt-amd64', '6.1/amd64']);
  const abis = (line: string, flavour: string) => kernels.filter((k) => k.line === line && k.flavour === flavour).map((k) => k.kernelRelease);
  for (const f of ['amd64', 'cloud-amd64', 'rt-amd64']) {
    assert.equal(abis('6.12', f), [107, 111, 113, 115, 117].map((n) => `6.12.${n}+deb12-${f}`));
    // ABIs 48, 49, 51, 52 have images but no headers (and no matching linux-source): not kernels at all
    assert.equal(abis('6.1', f), [47, 50, 53, 54, 55, 56, 57].map((n) => `6.1.0-${n}-${f}`));
  }
  assert.is(kernels.length, 36);
  assert.equal(cat.skipped, []);
  assert.is(kernels[0].kernelRelease, '6.12.107+deb12-cloud-amd64');
  assert.is(kernels.at(-1)!.kernelRelease, '6.1.0-57-amd64');
});

test('6.12: per-version kbuild, gcc-12 as compiler, linux-source-6.12 at the exact (even -2) version', () => {
  for (const k of kernels.filter((x) => x.line === '6.12')) {
    const abi = k.kernelRelease.slice(0, -(k.flavour.length + 1));
    assert.is(of(k.kernelRelease, 'kbuild').name, `linux-kbuild-${abi}`);
    assert.is(of(k.kernelRelease, 'kbuild').version, k.sourceVersion);
    assert.is(of(k.kernelRelease, 'source').name, 'linux-source-6.12');
    assert.is(of(k.kernelRelease, 'source').version, k.sourceVersion);
    assert.equal([of(k.kernelRelease, 'compiler').name, of(k.kernelRelease, 'compiler').version], ['gcc-12', '12.2.0-14+deb12u1']);
  }
  assert.is(byRelease.get('6.12.115+deb12-amd64')!.sourceVersion, '6.12.115-2~deb12u1');
});

test('flavours: rt headers depend on common-rt, cloud and amd64 share common; every file is the record apt gave', () => {
  assert.is(of('6.1.0-56-rt-amd64', 'headers-common').name, 'linux-headers-6.1.0-56-common-rt');
  assert.is(of('6.12.117+deb12-rt-amd64', 'headers-common').name, 'linux-headers-6.12.117+deb12-common-rt');
  assert.is(of('6.1.0-56-cloud-amd64', 'headers-common').name, 'linux-headers-6.1.0-56-common');
  assert.is(of('6.1.0-56-cloud-amd64', 'headers-common').sha256, of('6.1.0-56-amd64', 'headers-common').sha256);
  for (const k of kernels) {
    assert.equal(k.files.map((f) => f.role), ['headers-common', 'headers', 'kbuild', 'compiler', 'source', 'image']);
    assert.is(of(k.kernelRelease, 'headers').name, `linux-headers-${k.kernelRelease}`);
    for (const f of k.files) {
      const r = records.find((x) => x.package === f.name && x.version === f.version)!;
      assert.ok(r, `${f.name}=${f.version} is an apt record`);
      assert.equal([f.filename, f.sha256, f.size], [path.posix.basename(r.filename), r.sha256, r.size]);
    }
  }
});

test('image: the signed package, else the unsigned one (ABI 57 has only -unsigned so far)', () => {
  assert.is(of('6.1.0-56-amd64', 'image').name, 'linux-image-6.1.0-56-amd64');
  assert.is(of('6.12.117+deb12-rt-amd64', 'image').name, 'linux-image-6.12.117+deb12-rt-amd64');
  for (const f of ['amd64', 'cloud-amd64', 'rt-amd64']) assert.is(of(`6.1.0-57-${f}`, 'image').name, `linux-image-6.1.0-57-${f}-unsigned`);
  // kbuild-6.1 and the compiler metapackage: the kernel's own version when kept, else the newest
  assert.is(of('6.1.0-50-amd64', 'kbuild').version, '6.1.176-1');
  assert.is(of('6.1.0-47-rt-amd64', 'kbuild').version, '6.1.192-3');
});

test('recipe: tarball, common tree and the shipped member come from the kernel line (6.12 rt: .ko.xz)', async () => {
  const fam = createDebian12({});
  const ctx = { paths: resolvePaths({}, { home: path.join(os.tmpdir(), 'nbdforge-unused') }) } as FamilyContext;
  const nbd = await loadModuleSpec('nbd');
  const env = (krel: string) => fam.recipe(ctx, byRelease.get(krel)!, nbd, { oracle: true, patchRules: [] }).env;
  const rt = env('6.12.117+deb12-rt-amd64');
  assert.is(rt.SOURCE_TARBALL, './usr/src/linux-source-6.12.tar.xz');
  assert.is(rt.SOURCE_PREFIX, 'linux-source-6.12/');
  assert.is(rt.COMMON_TREE, '/usr/src/linux-headers-6.12.117+deb12-common-rt');
  assert.is(rt.SHIPPED_MEMBER, './lib/modules/6.12.117+deb12-rt-amd64/kernel/drivers/block/nbd.ko.xz');
  assert.is(rt.IMAGE_DEB, of('6.12.117+deb12-rt-amd64', 'image').filename);
  const old = env('6.1.0-56-cloud-amd64');
  assert.is(old.SOURCE_TARBALL, './usr/src/linux-source-6.1.tar.xz');
  assert.is(old.COMMON_TREE, '/usr/src/linux-headers-6.1.0-56-common');
  assert.is(old.SHIPPED_MEMBER, './lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/block/nbd.ko');
  assert.is(fam.recipe(ctx, byRelease.get('6.1.0-56-amd64')!, nbd, { oracle: false, patchRules: [] }).env.SHIPPED_MEMBER, undefined);
  // a kernel from a catalog whose line lines.json no longer has: a named error, not a wrong build
  assert.throws(() => fam.recipe(ctx, { ...byRelease.get('6.1.0-56-amd64')!, line: '5.10' } as Debian12Kernel, nbd, { oracle: true, patchRules: [] }), /line "5\.10" is not in .*lines\.json; run nbdforge kernels --refresh/);
});

test('aptQuery: grep -Ex in the container picks exactly the names the JavaScript join reads', () => {
  const q = aptQuery(data);
  assert.equal(q.prefixes, ['gcc-12', 'linux-compiler-gcc-12-x86', 'linux-headers-', 'linux-image-', 'linux-kbuild-', 'linux-source-6.1']);
  const names = [...new Set(records.map((r) => r.package))];
  const decoys = ['linux-headers-6.12-amd64', 'linux-image-6.1.0-57-amd64-dbg', 'linux-headers-6.1.0-57-amd64x', 'gcc-12-base', 'linux-source-6.10', 'linux-headers-6.12.117+deb12-common-rtx', 'linux-kbuild-6.12'];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-aptq-'));
  try {
    fs.writeFileSync(path.join(dir, 'pat'), q.patterns.join('\n') + '\n');
    const picked = execFileSync('grep', ['-Exf', path.join(dir, 'pat')], { input: [...names, ...decoys].join('\n') + '\n' }).toString().trim().split('\n');
    assert.equal(picked.sort(), [...names].sort(), 'every captured name (catalog.sh chose them) and no decoy');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a flavour or a line is a data change: drop one, add one', () => {
  const j = JSON.parse(fs.readFileSync(LINES_FILE, 'utf8'));
  j.lines[1].flavours = j.lines[1].flavours.filter((f: { flavour: string }) => f.flavour !== 'rt-amd64');
  const noRt = buildCatalog(records, 'x', parseLines(JSON.stringify(j)));
  assert.is(noRt.kernels.length, 36 - 7);
  assert.not.ok(noRt.kernels.some((k) => k.kernelRelease.startsWith('6.1.0-') && k.kernelRelease.endsWith('-rt-amd64')));
  // a hypothetical 6.6 line with its own packages: records in apt's format, no code change
  j.lines.unshift({ ...j.lines[1], line: '6.6', abi: '6\\.6\\.0-[0-9]+', sourceTarball: './usr/src/linux-source-6.6.tar.xz', sourcePrefix: 'linux-source-6.6/' });
  j.lines[0].packages = { ...j.lines[0].packages, kbuild: { names: ['linux-kbuild-6.6'], version: 'same-or-newest' }, source: { names: ['linux-source-6.6'], version: 'exact' } };
  const stanza = (p: string, v: string) => `Package: ${p}\nVersion: ${v}\nFilename: pool/main/l/linux/${p}_${v}_all.deb\nSize: 10\nSHA256: ${'ab'.repeat(32)}\n`;
  const extra = ['linux-headers-6.6.0-3-common', 'linux-headers-6.6.0-3-amd64', 'linux-headers-6.6.0-3-cloud-amd64', 'linux-kbuild-6.6', 'linux-source-6.6', 'linux-image-6.6.0-3-amd64-unsigned', 'linux-image-6.6.0-3-cloud-amd64']
    .map((p) => stanza(p, '6.6.15-2'))
    .join('\n');
  const withNew = buildCatalog([...records, ...parseAptRecords(extra)], 'x', parseLines(JSON.stringify(j)));
  assert.equal(withNew.kernels.slice(0, 2).map((k) => k.kernelRelease), ['6.6.0-3-cloud-amd64', '6.6.0-3-amd64']);
  assert.is(withNew.kernels.length, 36 - 7 + 2);
  assert.is(withNew.kernels.at(-1)!.kernelRelease, '6.1.0-57-amd64');
});

test('parseLines: every field a build reaches is checked; errors name the file and the field', () => {
  const base = JSON.parse(fs.readFileSync(LINES_FILE, 'utf8'));
  const bad = (edit: (j: any) => void, re: RegExp) => {
    const j = structuredClone(base);
    edit(j);
    assert.throws(() => parseLines(JSON.stringify(j), '/x/lines.json'), (e: Error) => e.message.startsWith('/x/lines.json: ') && re.test(e.message));
  };
  assert.throws(() => parseLines('{', '/x/lines.json'), /\/x\/lines\.json: not JSON/);
  bad((j) => (j.lines = []), /"lines" must be a non-empty array/);
  bad((j) => (j.lines[1].line = '6.12'), /lines\[1\]\.line must be a unique version/);
  bad((j) => (j.lines[0].abi = '6\\.12\\.(?:x)'), /lines\[0\]\.abi must be a simple regular expression/);
  bad((j) => (j.lines[0].abi = '6[.'), /lines\[0\]\.abi: /);
  bad((j) => delete j.lines[0].packages.source, /has no "source"/);
  bad((j) => (j.lines[0].packages.image.names = ['linux-image-{abi}-{arch}']), /unknown placeholder \{arch\}/);
  bad((j) => (j.lines[0].packages.image.names = ['linux-image-{abi} ; rm -rf /']), /must be a package-name template/);
  bad((j) => (j.lines[0].packages.kbuild.version = 'newest'), /version must be "exact" or "same-or-newest"/);
  bad((j) => (j.lines[0].sourcePrefix = '../linux-source-6.12/'), /must not climb/);
  bad((j) => (j.lines[0].shippedModule = './lib/modules/{release}/../../etc/{path}.ko'), /must not climb/);
  bad((j) => (j.lines[0].flavours[0].common = 'common rt'), /flavours\[0\]\.common must be a suffix/);
  bad((j) => (j.lines[0].packages = { headers: j.lines[0].packages.headers, ...j.lines[0].packages }), /first package role must name \{abi\}|second package role/);
  const ok = parseLines(JSON.stringify(base));
  assert.is(ok.lines.length, 2);
  assert.match(ok.sha256, /^[0-9a-f]{64}$/);
});

test.run();
