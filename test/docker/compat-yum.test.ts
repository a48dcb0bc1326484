/**
 * kABI compatibility from real RPMs (issue 17 item 3 and "the yum channel can then say so"): a
 * fixture vault (rpmbuild, createrepo_c, signed repomd.xml, served on 127.0.0.1) with three kernels
 * of 7.9.2009 whose kernel-devel RPMs carry a Module.symvers: A's and B's hold every CRC the real
 * nbd.ko (the debian12 pipeline's, filed here as A's el7 artifact) imports; C's differs in one.
 * `kernels sync` and the family's own fetch put the catalog and the RPMs in the cache, as a build
 * does; then `nbdforge compat` reads Module.symvers out of those RPMs, and the yum:DIR target writes
 * what the same computation found into the package's description (rpm -qp reads it back).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { $ } from 'zx';
import { main } from '../../src/cli.ts';
import { getFamily } from '../../src/families/index.ts';
import { resolvePaths } from '../../src/paths.ts';
import { parseElf } from '../../src/verify/index.ts';
import { readVersions, hexCrc } from '../../src/verify/versions.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { createTarget } from '../../src/publish/yum/index.ts';
import { debianModules, publishItems, storeWith } from '../fixtures/publish/built-modules.ts';
import { recordedTarget } from '../fixtures/publish/recorded-target.ts';
import { buildVault, stopVaultAgents, type FixtureKernel, type VaultFixture } from '../fixtures/vault/build-vault.ts';
import { startFixtureServer, type FixtureServer } from '../fixtures/vault/server.ts';

const REL = '7.9.2009';
const A: FixtureKernel = { release: REL, repo: 'os', version: '3.10.0-1160.el7' };
const B: FixtureKernel = { release: REL, repo: 'updates', version: '3.10.0-1160.119.1.el7' };
const C: FixtureKernel = { release: REL, repo: 'updates', version: '3.10.0-1160.118.1.el7' };
const kr = (k: FixtureKernel) => `${k.version}.x86_64`;

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-compat-yum-'));
const env: NodeJS.ProcessEnv = { ...process.env, NBDFORGE_HOME: path.join(dir, 'home'), NBDFORGE_CACHE: undefined, NBDFORGE_STORE: undefined, NBDFORGE_EL7_DATA: path.join(dir, 'el7-data') };
const store = path.join(dir, 'store');
let vault: VaultFixture;
let server: FixtureServer;
let broken = '';

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write: (c, _e, cb) => (f(String(c)), cb()) }) as unknown as NodeJS.WriteStream;
  const code = await main(args, { env, stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) });
  return { code, out, err };
}

test.before(async () => {
  const [mod] = await debianModules(1);
  await storeWith(store, [{ mod, family: 'el7', kernelRelease: kr(A) }]);
  const imports = readVersions(parseElf(new Uint8Array(await fs.readFile(mod.store.artifactPath(mod.entry))), 'nbd.ko'));
  assert.ok(imports.length > 10, 'the real module imports CRCs');
  broken = imports[Math.floor(imports.length / 2)].name;
  const symvers = (k: FixtureKernel) =>
    imports.map((i) => `${i.name === broken && k === C ? '0x0badf00d' : hexCrc(i.crc)}\t${i.name}\tvmlinux\tEXPORT_SYMBOL\n`).join('') + '0x12345678\tunrelated_export\tvmlinux\tEXPORT_SYMBOL_GPL\n';
  const trees = path.join(dir, 'trees');
  vault = await buildVault(dir, {
    kernels: [A, B, C],
    develTree: async (k) => {
      const t = path.join(trees, k.version);
      await fs.mkdir(path.join(t, 'include/config'), { recursive: true });
      await fs.writeFile(path.join(t, 'Makefile'), `# kbuild tree stand-in for ${kr(k)}\n`);
      await fs.writeFile(path.join(t, '.config'), 'CONFIG_MODULES=y\nCONFIG_MODVERSIONS=y\n');
      await fs.writeFile(path.join(t, 'include/config/kernel.release'), `${kr(k)}\n`);
      await fs.writeFile(path.join(t, 'Module.symvers'), symvers(k));
      return t;
    },
  });
  server = await startFixtureServer(vault.root);
  const data = JSON.parse(await fs.readFile('kernels/el7/releases.json', 'utf8'));
  await fs.mkdir(env.NBDFORGE_EL7_DATA!, { recursive: true });
  await fs.writeFile(path.join(env.NBDFORGE_EL7_DATA!, 'releases.json'), JSON.stringify({ ...data, defaultVault: server.url, keyFile: vault.key.file, fingerprint: vault.key.fingerprint }));
  const s = await cli('kernels', 'sync', '--family', 'el7', '--vault', server.url, '--release', REL);
  assert.is(s.code, 0, s.out + s.err);
  // the family's own fetch (signed repodata -> sha256 -> RPM signature), as a build runs it
  const family = getFamily('el7', env);
  const paths = resolvePaths(env);
  for (const k of (await family.catalog({ paths })).kernels) await family.ensureSources({ paths }, k);
});

test.after(async () => {
  await server?.close();
  if (vault) await stopVaultAgents(vault);
  await fs.rm(dir, { recursive: true, force: true });
});

test('compat reads Module.symvers out of the cached kernel-devel RPMs: loads on B, not on C (naming the symbol)', async () => {
  const r = await cli('compat', '--family', 'el7', '--release', REL, '--store', store, '--json');
  assert.is(r.code, 0, r.out + r.err);
  const j = JSON.parse(r.out);
  assert.is(j.kernels, 3);
  assert.is(j.rows.length, 1);
  const row = j.rows[0];
  assert.is(row.builtFor, kr(A));
  assert.equal(row.loads, [kr(B)]);
  assert.equal(row.breaks.map((b: { kernel: string; symbol: string; kernelCrc: string }) => [b.kernel, b.symbol, b.kernelCrc]), [[kr(C), broken, '0x0badf00d']]);
  assert.equal(row.unknown, []);
  const text = await cli('compat', '--family', 'el7', '--release', REL, '--store', store);
  assert.match(text.out, new RegExp(`not on ${kr(C).replace(/\./g, '\\.')}: ${broken} has CRC 0x0badf00d there`));
});

test('the yum channel: the package description says which other kernels of its release could load it, and which symbol breaks the others', async () => {
  const repo = path.join(dir, 'yum');
  // the target itself (as publish-yum.test.ts drives it): the CLI would refuse these bytes filed
  // under an el7 name, their vermagic says 6.1.0-N-amd64
  const target = recordedTarget(createTarget(repo, { family: 'el7', env, paths: { ...resolvePaths(env), store } }), store, '');
  await target.publish(await publishItems(new DirStore(store)), () => {});
  const rpm = path.join(repo, 'Packages', `kmod-nbd-${A.version}.x86_64.rpm`);
  const desc = (await $({ quiet: true })`rpm -qp --nosignature --qf ${'%{DESCRIPTION}'} ${rpm}`).stdout;
  console.log(desc.replace(/^/gm, '    '));
  assert.match(desc, /kABI: its \d+ imported CRCs against the Module\.symvers of 2 other el7 7\.9\.2009 kernels:/);
  assert.match(desc, new RegExp(`loads on \\(every CRC matches; weak-modules would link it\\):\\n  ${kr(B).replace(/\./g, '\\.')}\\n`));
  assert.match(desc, new RegExp(`not on \\(first symbol whose CRC differs\\):\\n  ${kr(C).replace(/\./g, '\\.')} \\(${broken}\\)`));
});

test.run();
