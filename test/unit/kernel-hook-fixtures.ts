/**
 * Fixtures of the kernel-hook unit tests (host-kernel-hook*.test.ts). The real kernel hook (src/prepare-host/kernel-hook/hook.sh) run the way run-parts and new-kernel-pkg run
 * it (`HOOK VERSION IMAGE`) under dash, bash in POSIX mode, busybox sh (or $NBDFORGE_TEST_SH, bash
 * 4.2 in the el7-userland tier), inside a sandbox root (NBDFORGE_ROOT: fake /lib/modules, /boot,
 * /etc) with depmod replaced by a stub that logs its argv and runs kmod's depmod with -b on the
 * sandbox. Sources: a signed published dir site and a plain store served on 127.0.0.1, and local
 * store directories; the el7 case links a module into weak-updates after comparing real __versions
 * against a fixture symvers-<v>.gz.
 */
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { resolvePaths } from '../../src/paths.ts';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import type { Manifest } from '../../src/artifacts/manifest.ts';
import { hookLayout } from '../../src/prepare-host/kernel-hook/layout.ts';
import type { FollowConfig } from '../../src/prepare-host/kernel-hook/config.ts';
import { followKernelSteps } from '../../src/prepare-host/kernel-hook/steps.ts';
import { emitScript } from '../../src/host/emit-script.ts';
import { validatePlan } from '../../src/host/plan.ts';
import { parseOptions } from '../../src/prepare-host/options.ts';
import { buildModule } from './fixtures-elf.ts';
import { gpgHome, cli, serve, sha, type GpgHome } from './publish-fixtures.ts';
import { proveStoreFixture } from '../fixtures/proof.ts';

export const K56 = '6.1.0-56-amd64';
export const K57 = '6.1.0-57-amd64';
export const A = '3.10.0-1160.el7.x86_64';
export const B = '3.10.0-1160.119.1.el7.x86_64';
export const C = '3.10.0-1160.118.1.el7.x86_64';
export const D = '3.10.0-957.el7.x86_64';
export const DEB_VM = (k: string) => `${k} SMP preempt mod_unload modversions `;
export const EL_VM = (k: string) => `${k} SMP mod_unload modversions `;
export const CRCS = [
  { name: 'module_layout', crc: 0x2a1b3c4d },
  { name: 'blk_mq_alloc_tag_set', crc: 0x1f2e3d4c },
  { name: 'sock_sendmsg', crc: 0x0badcafe },
];

export let tmp = '';
export let gpg: GpgHome;
export let server: { url: string; close: () => Promise<void> };
export let elStore = '';
export let debStore = '';
export let elBytes: Uint8Array;
/**
 * kmod 20 (CentOS 7's): the el7-userland tier names its build (NBDFORGE_EL7_BIN, required there);
 * other tiers use the build cache when some run built it.
 */
export const kmod20 = (() => {
  if (process.env.NBDFORGE_EL7_BIN) return [process.env.NBDFORGE_EL7_BIN];
  const d = path.join(resolvePaths(process.env).cache, 'el7-userland');
  try {
    return readdirSync(d).map((x) => path.join(d, x, 'bin'));
  } catch {
    return [];
  }
})();

export async function putArtifact(store: string, family: string, kernelRelease: string, bytes: Uint8Array): Promise<void> {
  const src = await fs.mkdtemp(path.join(tmp, 'src-'));
  await fs.writeFile(path.join(src, 'nbd.ko'), bytes);
  await fs.writeFile(path.join(src, 'nbd.ko.debug'), 'debug');
  const vermagic = family === 'el7' ? EL_VM(kernelRelease).trim() : DEB_VM(kernelRelease).trim();
  const m: Manifest = {
    schema: 1, key: sha(`key ${family} ${kernelRelease}`), family, kernelRelease, module: 'nbd', file: 'nbd.ko', debugFile: 'nbd.ko.debug',
    sha256: sha(bytes), size: bytes.length, debugSha256: sha('debug'), vermagic,
    checks: [{ name: 'vermagic', ok: true, detail: 'matches' }], inputs: {}, builderImage: 'sha256:' + sha('i'), compiler: 'gcc',
    durationMs: 1, tool: { name: 'nbdforge', version: '0.1.0' }, createdAt: new Date(0).toISOString(),
  };
  await new DirStore(store).put(m, { module: path.join(src, 'nbd.ko'), debug: path.join(src, 'nbd.ko.debug') });
}

/** Run without blocking this process: the http server the hook talks to lives here too. */
export function run(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b) => (stdout += b));
    c.stderr.on('data', (b) => (stderr += b));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code: code ?? 128, stdout, stderr }));
  });
}

export interface Host {
  root: string;
  bin: string;
  env: NodeJS.ProcessEnv;
  log: string;
  depmodCalls(): Promise<string[]>;
  hook(sh: string[], ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  postrm(sh: string[], ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** A sandbox root with kernels installed (a module of their own carrying their vermagic) and the hook in place. */
export async function host(config: FollowConfig, kernels: Array<[string, string]>, depmod = 'stub'): Promise<Host> {
  const root = await fs.mkdtemp(path.join(tmp, 'root-'));
  const bin = path.join(root, '..', path.basename(root) + '-bin');
  await fs.mkdir(bin);
  const log = path.join(bin, 'depmod.log');
  await fs.writeFile(log, '');
  const real = depmod === 'kmod20' ? `exec ${kmod20.find((b) => existsSync(path.join(b, 'depmod')))}/depmod -b "$NBDFORGE_ROOT" "$@"` : 'exit 0';
  await fs.writeFile(path.join(bin, 'depmod'), `#!/bin/sh\necho "depmod $*" >> '${log}'\n${real}\n`, { mode: 0o755 });
  await fs.mkdir(path.join(root, 'etc'), { recursive: true });
  await fs.mkdir(path.join(root, 'var/lib'), { recursive: true });
  for (const [k, vm] of kernels) {
    await fs.mkdir(path.join(root, 'lib/modules', k, 'kernel/fs'), { recursive: true });
    await fs.writeFile(path.join(root, 'lib/modules', k, 'kernel/fs/ext4.ko'), buildModule({ vermagic: vm }).bytes);
  }
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, NBDFORGE_ROOT: root, TMPDIR: tmp };
  const l = hookLayout(root);
  const plan = validatePlan({ id: 'follow', title: 'follow kernels', preconditions: [], steps: followKernelSteps(l, config) });
  const r = spawnSync('dash', ['-s'], { input: emitScript(plan), env, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  return {
    root,
    bin,
    env,
    log,
    depmodCalls: async () => (await fs.readFile(log, 'utf8')).split('\n').filter(Boolean),
    hook: (sh, ...args) => run([...sh, l.postinst, ...args], env),
    postrm: (sh, ...args) => run([...sh, l.postrm, ...args], env),
  };
}

/**
 * The sandbox's files. The highest serial accepted per source (var/lib/nbdforge/serials/, shared with
 * install.sh and prepare-host --from) is left out: it is kept on purpose after postrm and undo, so a
 * later run from the same source still refuses an older tree.
 */
export async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    const p = path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
    if (/^var\/lib\/nbdforge\/serials(\/|$)/.test(p)) continue;
    out.push(e.isDirectory() ? `${p}/` : e.isSymbolicLink() ? `${p} -> ${await fs.readlink(path.join(dir, p))}` : p);
  }
  const serials = out.length !== (await fs.readdir(dir, { recursive: true })).length;
  // var/lib/nbdforge/ stays when it holds the serials
  return out.filter((p) => !(serials && p === 'var/lib/nbdforge/')).sort();
}

export const record = async (h: Host, k: string, suffix = '') => fs.readFile(path.join(h.root, 'var/lib/nbdforge/kernels', k + suffix), 'utf8').catch(() => '');
export const debConfig = (over: Partial<FollowConfig> = {}): FollowConfig => ({
  from: `${server.url}/site`, fingerprint: gpg.fingerprint, family: 'debian12', options: parseOptions('nbds_max=16 max_part=15'), preparedFor: K56, ...over,
});

/** Stores, a signed published site and a server on 127.0.0.1, shared by the kernel-hook test files. */
export async function setupHookWorld(): Promise<void> {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-kernel-hook-'));
  gpg = await gpgHome();
  debStore = path.join(tmp, 'deb-store');
  await putArtifact(debStore, 'debian12', K56, buildModule({ vermagic: DEB_VM(K56), greeting: 'nbd 56', versions: CRCS }).bytes);
  await putArtifact(debStore, 'debian12', K57, buildModule({ vermagic: DEB_VM(K57), greeting: 'nbd 57', versions: CRCS }).bytes);
  const r = await cli(['publish', '--store', debStore, '--to', `dir:${path.join(tmp, 'www', 'site')}`, '--gpg-key', gpg.fingerprint], gpg.env);
  assert.is(r.code, 0, r.stderr + r.stdout);
  await fs.cp(debStore, path.join(tmp, 'www', 'store'), { recursive: true });
  // require_proof: 57 proven (a fixture record of its real sha256), 56 not; and a copy whose proof.json was edited
  const provenStore = path.join(tmp, 'www', 'proven-store');
  await fs.cp(debStore, provenStore, { recursive: true });
  await proveStoreFixture(provenStore, (k) => k === K57);
  const p = await cli(['publish', '--store', provenStore, '--to', `dir:${path.join(tmp, 'www', 'proven-site')}`, '--gpg-key', gpg.fingerprint], gpg.env);
  assert.is(p.code, 0, p.stderr + p.stdout);
  await fs.cp(path.join(tmp, 'www', 'proven-site'), path.join(tmp, 'www', 'bad-proof-site'), { recursive: true });
  const [e57] = await new DirStore(provenStore).list({ kernelRelease: K57 });
  const bad = path.join(tmp, 'www', 'bad-proof-site', e57.dir, 'proof.json');
  await fs.writeFile(bad, (await fs.readFile(bad, 'utf8')).replace('"taint": "4096 (O)"', '"taint": "0"'));
  elStore = path.join(tmp, 'el-store');
  elBytes = buildModule({ vermagic: EL_VM(A), greeting: 'nbd el7', versions: CRCS }).bytes;
  await putArtifact(elStore, 'el7', A, elBytes);
  server = await serve(path.join(tmp, 'www'));
}

export async function teardownHookWorld(): Promise<void> {
  await server.close();
  await fs.rm(tmp, { recursive: true, force: true });
}
