/**
 * The el7 builder's shell pieces, run on the host with the same bash, grep, sed, awk and cpio they
 * meet in the container: the patch rule decision (all four combinations of its two conditions), the
 * archive member checks against real cpio archives (a `../` member, an absolute one, symlinks that
 * climb out), and the host side of the rules (loading, refusing what the shell could misread).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { encodePatchRules, loadPatchRules, parsePatchRule, parseApplied, patchRuleHashes, PATCHES_DIR } from '../../src/module-spec/patches.ts';
import { loadModuleSpec } from '../../src/module-spec/module-spec.ts';
import { sha256 } from '../../src/util/hash.ts';
import { createEl7 } from '../../src/families/el7/index.ts';
import { resolvePaths } from '../../src/paths.ts';

const q = $({ quiet: true });
const lib = path.resolve('containers/el7');
const common = path.resolve('containers/common'); // shared scripts, taken into each builder's context by its context.json
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-el7-scripts-'));
const nbd = await loadModuleSpec('nbd');
const rules = loadPatchRules(nbd);
let n = 0;

test.after(() => fs.rm(dir, { recursive: true, force: true }));

async function applyCase(source: string, header: string) {
  const c = path.join(dir, `case-${n++}`);
  await fs.mkdir(path.join(c, 'tree/include/linux'), { recursive: true });
  await fs.mkdir(path.join(c, 'mod'), { recursive: true });
  await fs.writeFile(path.join(c, 'tree/include/linux/blkdev.h'), header);
  await fs.writeFile(path.join(c, 'mod/nbd.c'), source);
  const r = await q({ env: { ...process.env, PATCH_RULES: encodePatchRules(rules) } })`${common}/apply-patches.sh ${path.join(c, 'tree')} ${path.join(c, 'mod')} ${path.join(c, 'applied')}`;
  return { log: r.stderr, applied: (await fs.readFile(path.join(c, 'applied'), 'utf8')).trim(), source: await fs.readFile(path.join(c, 'mod/nbd.c'), 'utf8') };
}

const OLD = 'static int t = REQ_TYPE_SPECIAL; /* x */\nint u(void) { return REQ_TYPE_SPECIAL + 1; }\nint NOT_REQ_TYPE_SPECIAL_X;\n';
const DEFINES = 'enum rq_cmd_type_bits {\n\tREQ_TYPE_FS = 1,\n\tREQ_TYPE_DRV_PRIV,\n};\n';

test('rule applied when nbd.c uses REQ_TYPE_SPECIAL and the tree defines REQ_TYPE_DRV_PRIV: whole words only', async () => {
  const r = await applyCase(OLD, DEFINES);
  assert.is(r.applied, 'req-type-drv-priv');
  assert.match(r.log, /@@patch req-type-drv-priv applied to drivers\/block\/nbd\.c/);
  assert.is(r.source, 'static int t = REQ_TYPE_DRV_PRIV; /* x */\nint u(void) { return REQ_TYPE_DRV_PRIV + 1; }\nint NOT_REQ_TYPE_SPECIAL_X;\n');
});

test('not applied when the tree does not define REQ_TYPE_DRV_PRIV (source untouched)', async () => {
  const r = await applyCase(OLD, 'enum rq_cmd_type_bits { REQ_TYPE_FS = 1, REQ_TYPE_SPECIAL };\n/* REQ_TYPE_DRV_PRIVATE is another word */\n');
  assert.is(r.applied, '');
  assert.match(r.log, /skipped: the tree does not define REQ_TYPE_DRV_PRIV/);
  assert.is(r.source, OLD);
});

test('not applied when nbd.c does not use REQ_TYPE_SPECIAL, whatever the tree defines', async () => {
  for (const header of [DEFINES, '/* nothing */\n']) {
    const src = 'int x = REQ_TYPE_DRV_PRIV; int MY_REQ_TYPE_SPECIAL;\n';
    const r = await applyCase(src, header);
    assert.is(r.applied, '');
    assert.match(r.log, /skipped: drivers\/block\/nbd\.c does not use REQ_TYPE_SPECIAL/);
    assert.is(r.source, src);
  }
});

test('no rules: nothing applied, nothing printed', async () => {
  const c = path.join(dir, 'none');
  await fs.mkdir(path.join(c, 'mod'), { recursive: true });
  await fs.writeFile(path.join(c, 'mod/nbd.c'), OLD);
  const r = await q({ env: { ...process.env, PATCH_RULES: '' } })`${common}/apply-patches.sh ${c} ${path.join(c, 'mod')} ${path.join(c, 'applied')}`;
  assert.is(r.stderr, '');
  assert.is(await fs.readFile(path.join(c, 'applied'), 'utf8'), '');
});

test('rules: loaded by the ids of the module spec, hashed by file bytes, recorded only if given', async () => {
  assert.equal(nbd.patchRules, ['req-type-drv-priv']);
  const text = await fs.readFile(path.join(PATCHES_DIR, 'req-type-drv-priv.json'), 'utf8');
  assert.equal(patchRuleHashes(rules), { 'req-type-drv-priv': sha256(text) });
  assert.is(encodePatchRules(rules), 'req-type-drv-priv\tdrivers/block/nbd.c\tREQ_TYPE_SPECIAL\tREQ_TYPE_DRV_PRIV\tREQ_TYPE_SPECIAL\tREQ_TYPE_DRV_PRIV');
  assert.equal(parseApplied('req-type-drv-priv\n', rules).map((r) => r.id), ['req-type-drv-priv']);
  assert.throws(() => parseApplied('something-else\n', rules), /not given/);
});

test('rules: anything the shell or sed could misread is refused on the host', () => {
  const good = JSON.parse(JSON.stringify({ id: 'x', modules: ['nbd'], file: 'drivers/block/nbd.c', when: { sourceContains: 'A', treeDefines: 'B' }, edit: { replaceWord: 'A', with: 'B' } }));
  assert.is(parsePatchRule(JSON.stringify(good), 'r').id, 'x');
  const bad: Array<[string, unknown]> = [
    ['edit.with', { ...good, edit: { replaceWord: 'A', with: 'B/;s/x/y' } }],
    ['when.sourceContains', { ...good, when: { sourceContains: 'A\tB', treeDefines: 'B' } }],
    ['when.treeDefines', { ...good, when: { sourceContains: 'A', treeDefines: '' } }],
    ['"id"', { ...good, id: 'Bad Id' }],
    ['"file"', { ...good, file: '../nbd.c' }],
    ['"modules"', { ...good, modules: [] }],
  ];
  for (const [field, rule] of bad) assert.throws(() => parsePatchRule(JSON.stringify(rule), 'r'), (e: Error) => e.message.includes(field), field);
  // A spec derived from nbd's (another name, other sources) keeps the ids but the rule cannot apply.
  assert.equal(loadPatchRules({ ...nbd, name: 'other' }), []);
  assert.equal(loadPatchRules({ ...nbd, sources: ['drivers/block/other.c'] }), []);
  assert.throws(() => loadPatchRules({ ...nbd, patchRules: ['no-such-rule'] }), /patch rule "no-such-rule" not found/);
});

const check = (fn: 'bad_name' | 'bad_link', input: string) =>
  q({ input })`bash -c ${`. ${lib}/archive-check.sh; ${fn}`}`.then((r) => r.stdout.trim());

test('bad_name: absolute and `..` members are named, ordinary ones pass', async () => {
  assert.is(await check('bad_name', './usr/src/kernels/3.10.0-1160.el7.x86_64/Makefile\nlinux-3.10.0/drivers/block/nbd.c\na..b/c..\n'), '');
  assert.is(await check('bad_name', 'ok\nlinux-3.10.0/../../escape\nlater\n'), 'linux-3.10.0/../../escape');
  assert.is(await check('bad_name', './ok\n/etc/passwd\n'), '/etc/passwd');
  assert.is(await check('bad_name', '..\n'), '..');
});

test('real cpio archives: a `../` member and symlinks that leave the tree are found before anything is unpacked', async () => {
  const src = path.join(dir, 'cpio-src');
  const tree = path.join(src, 'usr/src/kernels/v');
  await fs.mkdir(path.join(tree, 'include'), { recursive: true });
  await fs.writeFile(path.join(tree, 'Makefile'), 'x\n');
  await fs.symlink('../Makefile', path.join(tree, 'include/Makefile'));
  await fs.symlink('../../../../usr/src', path.join(tree, 'up-to-root-only'));
  const good = path.join(dir, 'good.cpio');
  await q`cd ${src} && find . | cpio -o --quiet -H newc > ${good}`;
  assert.is(await check('bad_name', (await q`cpio -it --quiet < ${good}`).stdout), '');
  assert.is(await check('bad_link', (await q`cpio -itv --quiet < ${good}`).stdout), '');

  await fs.symlink('../../../../../etc', path.join(tree, 'climb'));
  await fs.symlink('/etc', path.join(tree, 'abs'));
  const links = path.join(dir, 'links.cpio');
  await q`cd ${src} && find . -name climb | cpio -o --quiet -H newc > ${links}`;
  assert.is(await check('bad_link', (await q`cpio -itv --quiet < ${links}`).stdout), 'usr/src/kernels/v/climb -> ../../../../../etc');
  await q`cd ${src} && find . -name abs | cpio -o --quiet -H newc > ${links}`;
  assert.is(await check('bad_link', (await q`cpio -itv --quiet < ${links}`).stdout), 'usr/src/kernels/v/abs -> /etc');

  // A member literally named ../escape (cpio -o stores the name it is given).
  await fs.writeFile(path.join(dir, 'escape'), 'outside\n');
  const evil = path.join(dir, 'evil.cpio');
  await q`cd ${src} && printf '%s\n' ./usr/src/kernels/v/Makefile ../escape | cpio -o --quiet -H newc > ${evil}`;
  assert.is(await check('bad_name', (await q`cpio -it --quiet < ${evil}`).stdout), '../escape');
});

test('el7 recipe: the RPMs by content address read-only, the derived cache, the rules, no oracle', () => {
  const paths = resolvePaths({}, { home: '/h' });
  const ctx = { paths };
  const sha = (c: string) => c.repeat(64);
  const kernel = {
    family: 'el7',
    kernelRelease: '3.10.0-514.26.2.el7.x86_64',
    sourceVersion: '3.10.0-514.26.2.el7',
    release: '7.3.1611',
    repo: 'updates',
    files: [
      { role: 'srpm', name: 'kernel', version: '3.10.0-514.26.2.el7', filename: 'kernel-3.10.0-514.26.2.el7.src.rpm', sha256: sha('a'), size: 1 },
      { role: 'devel', name: 'kernel-devel', version: '3.10.0-514.26.2.el7', filename: 'kernel-devel-3.10.0-514.26.2.el7.x86_64.rpm', sha256: sha('b'), size: 1 },
    ],
  };
  const r = createEl7({}).recipe(ctx, kernel, nbd, { oracle: true, patchRules: rules });
  assert.is(r.oracle, false);
  assert.equal(r.binds, ['/h/cache/sha256:/rpms:ro', '/h/cache/el7/derived:/derived']);
  assert.is(r.env.SRPM, `/rpms/aa/${sha('a')}`);
  assert.is(r.env.DEVEL_RPM, `/rpms/bb/${sha('b')}`);
  assert.is(r.env.KREL, '3.10.0-514.26.2.el7.x86_64');
  assert.is(r.env.KVER, '3.10.0-514.26.2.el7');
  assert.is(r.env.PATCH_RULES, encodePatchRules(rules));
  assert.is(r.image.baseImage, 'centos:7.3.1611');
  assert.equal(r.image.buildArgs, { RELEASE: '7.3.1611', VAULT: 'https://vault.centos.org' });
  const standin = createEl7({ NBDFORGE_EL7_BUILDER: 'standin' }).recipe(ctx, kernel, nbd, { oracle: false, patchRules: rules });
  assert.is(standin.image.baseImage, 'debian:bookworm');
  assert.ok(standin.image.contextDir.endsWith('containers/el7-standin'));
  assert.throws(() => createEl7({ NBDFORGE_EL7_BUILDER: 'fedora' }), /must be "centos" or "standin"/);
  assert.throws(() => createEl7({}).recipe(ctx, { ...kernel, family: 'debian12' }, nbd, { oracle: false, patchRules: rules }), /not an el7 catalog entry/);
});

test.run();
