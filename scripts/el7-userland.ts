/**
 * The CentOS 7.9 host userland (bash 4.2, util-linux 2.23.2, lvm2 2.02.187, kmod 20) as static
 * binaries, built once from the upstream sources in ../shared/el7-userland/ (beside the checkout, as
 * in CI; NBDFORGE_EL7_USERLAND_SRC names another copy) by its build.sh and cached under
 * <cache>/el7-userland/<hash of the sources and build.sh>, so a changed source rebuilds and an
 * unchanged one costs nothing. The build is done in place (lvm bakes its config dir into the binary),
 * and a `.complete` marker says it finished; build.sh is idempotent per tool, so a run interrupted
 * half-way resumes.
 *
 *   npx tsx scripts/el7-userland.ts        # builds (about 2-3 minutes) or reuses; prints the bin dir
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolvePaths } from '../src/paths.ts';

export const EL7_SOURCES = path.resolve(process.env.NBDFORGE_EL7_USERLAND_SRC ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared', 'el7-userland'));
export const EL7_TOOLS = ['bash', 'losetup', 'blkid', 'mount', 'umount', 'lvm', 'dmsetup', 'kmod'] as const;

/** The upstream sources the el7-userland tier builds (exact release tarballs) and their sha256. */
export const EL7_UPSTREAM: Record<string, string> = {
  'bash-4.2.45.tar.xz': '654fd96fcc2b9769a0bd7ec47864ab9d0137b96c9ad6b64107ed4576c8f00940',
  'util-linux-2.23.2.tar.xz': '6901848b62ccfb746a835081071e6803522dc48ece7ba7765e65774366166b02',
  'lvm2-2.02.187.tar.xz': '44d1cb084c86615236d16d9e035eed4e35d10548ea201fec4fffb71d7f782491',
  'kmod-20.tar.xz': '8a69ad6d4a441717d92b04677e0cacd466ffdb9df5fcb4dd404444d34c2cd965',
};

/** Undefined when the sources are there (names only: the build's hash covers the bytes); else one line saying what to do. */
export function el7SourcesMissing(dir = EL7_SOURCES): string | undefined {
  let have: string[] = [];
  try {
    have = fs.readdirSync(dir);
  } catch {
    /* reported below */
  }
  const lack = ['build.sh', ...Object.keys(EL7_UPSTREAM)].filter((f) => !have.includes(f));
  if (lack.length === 0) return undefined;
  return (
    `npm test: the el7-userland tier needs CentOS 7.9's host tool sources in ${dir} (missing: ${lack.join(', ')}); ` +
    `in CI they come with ../shared beside the checkout. Elsewhere put there, or in a directory named by NBDFORGE_EL7_USERLAND_SRC, ` +
    `build.sh from the project's shared folder and the upstream tarballs ${Object.entries(EL7_UPSTREAM).map(([f, h]) => `${f} (sha256 ${h})`).join(', ')}; ` +
    `or run the other tiers alone: npm run test:unit, test:docker, test:vm`
  );
}

/** Hash of build.sh and every source tarball (names and contents), first 16 hex digits. */
export function el7SourcesHash(dir = EL7_SOURCES): string {
  const files = fs.readdirSync(dir).filter((f) => f === 'build.sh' || f.endsWith('.tar.xz')).sort();
  if (!files.includes('build.sh')) throw new Error(`${dir}: build.sh missing: the el7 userland sources live in ../shared/el7-userland beside the checkout (or set NBDFORGE_EL7_USERLAND_SRC)`);
  const listing = files.map((f) => `${createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex')}  ${f}\n`).join('');
  return createHash('sha256').update(listing).digest('hex').slice(0, 16);
}

export function el7UserlandDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(resolvePaths(env).cache, 'el7-userland', el7SourcesHash());
}

/** Returns <prefix> whose bin/ holds the static tools; builds them when the cache has none. */
export function ensureEl7Userland(env: NodeJS.ProcessEnv = process.env): string {
  const prefix = el7UserlandDir(env);
  const marker = path.join(prefix, '.complete');
  if (fs.existsSync(marker)) return prefix;
  fs.mkdirSync(prefix, { recursive: true });
  const lock = path.join(prefix, '.building');
  try {
    fs.mkdirSync(lock);
  } catch {
    throw new Error(`${lock} exists: another build of the el7 userland runs (or one died: remove ${lock} and retry)`);
  }
  try {
    process.stderr.write(`[el7-userland] building into ${prefix} (about 2-3 minutes, once)\n`);
    const r = spawnSync('bash', [path.join(EL7_SOURCES, 'build.sh'), prefix], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error(`${EL7_SOURCES}/build.sh ${prefix} failed (exit ${r.status}); its output is above`);
    for (const t of EL7_TOOLS) {
      if (!fs.existsSync(path.join(prefix, 'bin', t))) throw new Error(`${prefix}/bin/${t} missing after build.sh`);
    }
    fs.writeFileSync(marker, `${new Date().toISOString()}\n`);
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
  return prefix;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  console.log(path.join(ensureEl7Userland(), 'bin'));
}
