import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadModuleSpec, validateModuleSpec, KERNELS_DIR } from '../../src/module-spec/module-spec.ts';

const good = { name: 'nbd', description: 'Network block device', kconfig: 'CONFIG_BLK_DEV_NBD', sources: ['drivers/block/nbd.c'], patchRules: [] };

test("loadModuleSpec('nbd') reads kernels/modules/nbd.json", async () => {
  const m = await loadModuleSpec('nbd');
  assert.is(m.name, 'nbd');
  assert.is(m.kconfig, 'CONFIG_BLK_DEV_NBD');
  assert.equal(m.sources, ['drivers/block/nbd.c']);
  assert.equal(m.patchRules, ['req-type-drv-priv']);
  assert.type(m.description, 'string');
  assert.ok(m.description.length > 0);
  const raw = JSON.parse(await fs.readFile(path.join(KERNELS_DIR, 'modules', 'nbd.json'), 'utf8'));
  assert.is(raw.name, m.name);
});

test("loadModuleSpec('nope') names the file and lists the known specs", async () => {
  try {
    await loadModuleSpec('nope');
    assert.unreachable('should throw');
  } catch (err) {
    const msg = (err as Error).message;
    assert.match(msg, /no module spec "nope"/);
    assert.ok(msg.includes(path.join(KERNELS_DIR, 'modules', 'nope.json')), msg);
    assert.match(msg, /known: .*\bnbd\b/);
    assert.ok((err as Error).cause, 'keeps the underlying error as cause');
  }
});

test('loadModuleSpec from another directory: known list, invalid JSON, invalid spec', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-module-spec-'));
  try {
    await fs.writeFile(path.join(dir, 'loop.json'), JSON.stringify({ ...good, name: 'loop', kconfig: 'CONFIG_BLK_DEV_LOOP', sources: ['drivers/block/loop.c'] }));
    await fs.writeFile(path.join(dir, 'broken.json'), '{ "name": ');
    await fs.writeFile(path.join(dir, 'bad.json'), JSON.stringify({ ...good, sources: ['/abs/x.c'] }));
    await fs.writeFile(path.join(dir, 'README.md'), 'not a spec');
    const loop = await loadModuleSpec('loop', dir);
    assert.is(loop.name, 'loop');
    assert.equal(loop.sources, ['drivers/block/loop.c']);

    await loadModuleSpec('nope', dir).then(
      () => assert.unreachable('should throw'),
      (err: Error) => {
        const known = /known: (.*)$/.exec(err.message)![1].split(', ').sort();
        assert.equal(known, ['bad', 'broken', 'loop']);
      },
    );
    await loadModuleSpec('broken', dir).then(
      () => assert.unreachable('should throw'),
      (err: Error) => assert.instance(err.cause, SyntaxError),
    );
    await loadModuleSpec('bad', dir).then(
      () => assert.unreachable('should throw'),
      (err: Error) => {
        assert.ok(err.message.startsWith(path.join(dir, 'bad.json') + ':'), err.message);
        assert.match(err.message, /bad source path "\/abs\/x\.c"/);
      },
    );
    await loadModuleSpec('x', path.join(dir, 'missing')).then(
      () => assert.unreachable('should throw'),
      (err: Error) => assert.match(err.message, /known: none/),
    );
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('validateModuleSpec: a good spec and defaults', () => {
  assert.equal(validateModuleSpec(good, 'x'), good);
  const m = validateModuleSpec({ name: 'nbd', kconfig: 'CONFIG_BLK_DEV_NBD', sources: ['drivers/block/nbd.c', 'drivers/block/nbd-extra.c'] }, 'x');
  assert.is(m.description, '');
  assert.equal(m.patchRules, []);
  assert.equal(m.sources, ['drivers/block/nbd.c', 'drivers/block/nbd-extra.c']);
  // a top-level source is fine too (one directory: '.')
  assert.equal(validateModuleSpec({ ...good, sources: ['foo.c'] }, 'x').sources, ['foo.c']);
});

const rejects = (over: Record<string, unknown>, re: RegExp) =>
  assert.throws(() => validateModuleSpec({ ...good, ...over }, 'spec.json'), (e: Error) => e.message.startsWith('spec.json: ') && re.test(e.message));

test('validateModuleSpec rejects bad source paths', () => {
  rejects({ sources: ['/usr/src/linux/drivers/block/nbd.c'] }, /bad source path "\/usr\/src\/linux\/drivers\/block\/nbd\.c"/);
  rejects({ sources: ['drivers/block/../../etc/nbd.c'] }, /bad source path/);
  rejects({ sources: ['../nbd.c'] }, /bad source path/);
  rejects({ sources: ['drivers/block/nbd.h'] }, /bad source path "drivers\/block\/nbd\.h"/);
  rejects({ sources: ['drivers/block/nbd.o'] }, /bad source path/);
  rejects({ sources: ['drivers/block/nbd'] }, /bad source path/);
  rejects({ sources: [] }, /"sources" must list at least one file/);
  rejects({ sources: 'drivers/block/nbd.c' }, /"sources" must list at least one file/);
});

test('validateModuleSpec rejects sources in two directories', () => {
  rejects({ sources: ['drivers/block/nbd.c', 'drivers/net/nbd-net.c'] }, /one directory/);
  rejects({ sources: ['drivers/block/nbd.c', 'drivers/block/sub/x.c'] }, /one directory/);
});

test('validateModuleSpec rejects a bad kconfig or name', () => {
  rejects({ kconfig: 'BLK_DEV_NBD' }, /"kconfig" must be a CONFIG_ symbol/);
  rejects({ kconfig: undefined }, /"kconfig"/);
  rejects({ kconfig: 42 }, /"kconfig"/);
  rejects({ name: 'Nbd' }, /"name" must be a module name/);
  rejects({ name: 'nbd/x' }, /"name"/);
  rejects({ name: '' }, /"name"/);
  assert.throws(() => validateModuleSpec(null, 'spec.json'), /spec\.json: not an object/);
  assert.throws(() => validateModuleSpec('nbd', 'spec.json'), /spec\.json: not an object/);
});

test.run();
