import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildKey, type KeyInputs } from '../../src/builder/key.ts';
import type { KernelEntry } from '../../src/families/family.ts';
import type { ModuleSpec } from '../../src/module-spec/module-spec.ts';

const hex = (c: string) => c.repeat(64);

function kernel(): KernelEntry {
  const f = (role: string, name: string, c: string) => ({ role, name, version: '6.1.192-2', filename: `${name}_6.1.192-2_amd64.deb`, sha256: hex(c), size: 1000 });
  return {
    family: 'debian12',
    kernelRelease: '6.1.0-56-amd64',
    sourceVersion: '6.1.192-2',
    files: [
      f('headers-common', 'linux-headers-6.1.0-56-common', '1'),
      f('headers', 'linux-headers-6.1.0-56-amd64', '2'),
      f('kbuild', 'linux-kbuild-6.1', '3'),
      f('compiler', 'linux-compiler-gcc-12-x86', '4'),
      f('source', 'linux-source-6.1', '5'),
      f('image', 'linux-image-6.1.0-56-amd64', '6'),
    ],
  };
}

function moduleSpec(): ModuleSpec {
  return { name: 'nbd', description: 'Network block device', kconfig: 'CONFIG_BLK_DEV_NBD', sources: ['drivers/block/nbd.c'], patchRules: [] };
}

function inputs(): KeyInputs {
  return {
    kernel: kernel(),
    module: moduleSpec(),
    patches: { 'nbd-6.1-fix': hex('7'), 'nbd-6.1-other': hex('8') },
    builderImageId: 'sha256:' + hex('9'),
    env: { NBDFORGE_MODULE: 'nbd', NBDFORGE_KREL: '6.1.0-56-amd64', NBDFORGE_ORACLE: '1' },
    oracle: true,
  };
}

/** Rebuild every object with its keys in reverse order. */
function reverseKeys<T>(v: T): T {
  if (Array.isArray(v)) return v.map(reverseKeys) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reverseKeys(x)])) as T;
  return v;
}

const base = buildKey(inputs());

test('a key is a sha256 hex digest and is deterministic', () => {
  assert.match(base, /^[0-9a-f]{64}$/);
  assert.is(buildKey(inputs()), base);
});

test('object key order and file order do not matter', () => {
  const i = reverseKeys(inputs());
  assert.equal(Object.keys(i.env), Object.keys(inputs().env).reverse()); // really reordered
  i.kernel.files.reverse();
  assert.is(buildKey(i), base);

  const j = inputs();
  j.kernel.files = [j.kernel.files[3], j.kernel.files[0], j.kernel.files[5], j.kernel.files[1], j.kernel.files[4], j.kernel.files[2]];
  assert.is(buildKey(j), base);
});

test('file metadata other than role and sha256 does not change the key', () => {
  const i = inputs();
  i.kernel.files[0] = { ...i.kernel.files[0], filename: 'renamed.deb', size: 5 };
  assert.is(buildKey(i), base);
});

const changes: Array<[string, (i: KeyInputs) => void]> = [
  ['a file sha256 (headers-common)', (i) => (i.kernel.files[0].sha256 = hex('0'))],
  ['a file sha256 (source)', (i) => (i.kernel.files[4].sha256 = hex('a'))],
  ['a file sha256 (image)', (i) => (i.kernel.files[5].sha256 = hex('b'))],
  ['a file role', (i) => (i.kernel.files[2].role = 'kbuild-x')],
  ['a file dropped', (i) => i.kernel.files.pop()],
  ['the kernel release', (i) => (i.kernel.kernelRelease = '6.1.0-55-amd64')],
  ['the family', (i) => (i.kernel.family = 'el7')],
  ['the builder image id', (i) => (i.builderImageId = 'sha256:' + hex('c'))],
  ['the module spec sources', (i) => (i.module.sources = ['drivers/block/nbd.c', 'drivers/block/nbd-extra.c'])],
  ['the module spec source path', (i) => (i.module.sources = ['drivers/block/nbd2.c'])],
  ['the module spec kconfig', (i) => (i.module.kconfig = 'CONFIG_BLK_DEV_NBD2')],
  ['the module spec patch rules', (i) => (i.module.patchRules = ['nbd-6.1-fix'])],
  ['an env value', (i) => (i.env.NBDFORGE_ORACLE = '0')],
  ['an extra env variable', (i) => (i.env.EXTRA = '1')],
  ['an env variable removed', (i) => delete i.env.NBDFORGE_KREL],
  ['the oracle flag', (i) => (i.oracle = false)],
  ['a patch content', (i) => (i.patches['nbd-6.1-fix'] = hex('d'))],
  ['a patch added', (i) => (i.patches['nbd-6.1-new'] = hex('e'))],
  ['patches removed', (i) => (i.patches = {})],
  ['signing with a certificate', (i) => (i.signer = hex('f'))],
  ['signing with another certificate', (i) => (i.signer = hex('e'))],
];

for (const [what, change] of changes) {
  test(`changing ${what} changes the key`, () => {
    const i = inputs();
    change(i);
    assert.is.not(buildKey(i), base);
  });
}

test('an unsigned build keeps the key it had before signing existed', () => {
  const i = inputs();
  i.signer = undefined;
  assert.is(buildKey(i), base);
});

test('every single change gives a distinct key', () => {
  const keys = changes.map(([, change]) => {
    const i = inputs();
    change(i);
    return buildKey(i);
  });
  assert.is(new Set([base, ...keys]).size, changes.length + 1);
});

test.run();
