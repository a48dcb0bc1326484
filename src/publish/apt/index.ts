/**
 * `--to apt:DIR` (Debian families): a flat apt repository.
 *   DIR/pool/nbd-modules-<release>_<version>_amd64.deb   one package per kernel (dpkg-deb)
 *   DIR/Packages, Packages.gz                            apt-ftparchive over pool/
 *   DIR/Release (+ with --gpg-key: InRelease, Release.gpg, nbdforge-archive-keyring.asc)
 *   DIR/nbdforge.sources                                 deb822, Signed-By inline
 * Packages and index files are made in a scratch directory inside DIR and renamed into place at
 * the end: a failed run leaves the repository as it was.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { $ } from 'zx';
import type { PublishItem, PublishOutcome, PublishTarget, TargetOptions } from '../target.ts';
import { createGpg, GpgKeyError, type SigningKey } from '../gpg.ts';
import { checkChannel, checkTools, checkWritable, mapLimit, moveInto, PublishRefusedError, withWorkDir } from '../package-channel.ts';
import { debArch, debControl, debPackageName } from './control.ts';
import { buildDeb } from './build-deb.ts';
import { KEY_FILE, SOURCES_FILE, releaseFile, sourcesFile } from './repo-files.ts';
import { writeFileAtomic } from '../../util/atomic.ts';

const POOL = 'pool';

export function createTarget(spec: string, opts: TargetOptions): PublishTarget {
  if (!spec) throw new PublishRefusedError('apt: needs a directory: --to apt:DIR');
  const dir = path.resolve(spec);
  const gpg = createGpg(opts.env);
  let key: SigningKey | undefined;

  async function check(items: PublishItem[]): Promise<void> {
    checkChannel('apt', spec, opts.family, items, opts.env);
    // Render every control file now: what a .deb cannot carry is refused before DIR exists.
    for (const i of items) {
      debArch(i.entry.kernelRelease);
      debControl({ ...i.manifest, toolVersion: i.manifest.tool.version, size: i.manifest.size });
    }
    await checkTools(`apt:${spec}`, { 'dpkg-deb': 'dpkg', 'apt-ftparchive': 'apt-utils', ...(opts.gpgKey ? { gpg: 'gnupg' } : {}) }, opts.env);
    if (opts.gpgKey) {
      try {
        key = await gpg.findKey(opts.gpgKey);
      } catch (err) {
        if (err instanceof GpgKeyError) throw new PublishRefusedError(`apt:${spec}: ${err.message}`);
        throw err;
      }
    }
    await checkWritable('apt', dir);
  }

  async function publish(items: PublishItem[], progress: Parameters<PublishTarget['publish']>[1]): Promise<PublishOutcome[]> {
    await check(items);
    return withWorkDir(
      dir,
      async (work) => {
        const debs = await mapLimit(items, os.availableParallelism(), async (item) => {
          progress({ kernelRelease: item.entry.kernelRelease, stage: 'dpkg-deb' });
          return buildDeb(item, work, opts.env);
        });
        const outcomes: PublishOutcome[] = [];
        for (const [i, item] of items.entries()) {
          const size = (await fs.stat(debs[i])).size;
          outcomes.push({ key: item.entry.key, kernelRelease: item.entry.kernelRelease, ref: `${POOL}/${path.basename(debs[i])}`, bytesSent: size });
          progress({ kernelRelease: item.entry.kernelRelease, stage: 'written', bytes: size });
        }
        const pool = path.join(dir, POOL);
        // One version per kernel in the pool: the one being published replaces older builds.
        const names = new Set(items.map((i) => debPackageName(i.manifest)));
        const fresh = new Set(debs.map((d) => path.basename(d)));
        for (const f of await fs.readdir(pool).catch(() => [] as string[])) {
          if (names.has(f.split('_')[0]) && !fresh.has(f)) await fs.rm(path.join(pool, f), { force: true });
        }
        await moveInto(debs, pool);
        await writeIndexes(work);
        return outcomes;
      },
      opts.signal,
    );
  }

  async function writeIndexes(work: string): Promise<void> {
    const packages = (await $({ quiet: true, cwd: dir, env: { ...opts.env, LC_ALL: 'C' } })`apt-ftparchive packages ${POOL}`).buffer();
    const gz = gzipSync(packages, { level: 9 });
    const arch = [...new Set([...packages.toString().matchAll(/^Architecture: (\S+)$/gm)].map((m) => m[1]))].sort();
    const staged: string[] = [];
    const stage = async (name: string, data: Buffer | string) => {
      await fs.writeFile(path.join(work, name), data);
      staged.push(path.join(work, name));
    };
    await stage('Packages', packages);
    await stage('Packages.gz', gz);
    await stage('Release', releaseFile([{ name: 'Packages', data: packages }, { name: 'Packages.gz', data: gz }], arch, new Date()));
    if (key) {
      await gpg.clearSign(key, path.join(work, 'Release'), path.join(work, 'InRelease'));
      await gpg.detachSign(key, path.join(work, 'Release'), path.join(work, 'Release.gpg'), false);
      staged.push(path.join(work, 'InRelease'), path.join(work, 'Release.gpg'));
    }
    // Packages first, then the files that name their hashes.
    await moveInto(staged, dir);
    if (key) {
      const armored = (await gpg.exportPublic(key, true)).toString();
      await writeFileAtomic(path.join(dir, KEY_FILE), armored);
      await writeFileAtomic(path.join(dir, SOURCES_FILE), sourcesFile(dir, { ...key, armoredKey: armored }));
    } else {
      for (const f of ['InRelease', 'Release.gpg', KEY_FILE]) await fs.rm(path.join(dir, f), { force: true });
      await writeFileAtomic(path.join(dir, SOURCES_FILE), sourcesFile(dir));
    }
  }

  return { spec: `apt:${spec}`, kind: 'apt', check, publish };
}
