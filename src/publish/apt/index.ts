/**
 * `--to apt:DIR` (Debian families): a flat apt repository.
 *   DIR/pool/nbd-modules-<release>_<version>_amd64.deb   one package per kernel (dpkg-deb)
 *   DIR/Packages, Packages.gz                            apt-ftparchive over pool/
 *   DIR/Release (+ with --gpg-key: InRelease, Release.gpg, nbdforge-archive-keyring.asc)
 *   DIR/nbdforge.sources                                 deb822, Signed-By inline
 * The repository is rebuilt from the store and the publish records every run (pkg-repo.ts): a .deb
 * in pool/ that nbdforge did not write is refused, never indexed; everything is staged in a scratch
 * directory inside DIR and renamed into place, so a failed run leaves the repository as it was.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { run, SLOW_TOOL_MS } from '../../doors/exec.ts';
import type { PublishItem, PublishOutcome, PublishTarget, TargetOptions } from '../target.ts';
import { createGpg, GpgKeyError, type SigningKey } from '../../doors/gpg.ts';
import { checkChannel, checkTools, checkWritable, mapLimit, proofOf, PublishRefusedError } from '../package-channel.ts';
import { holds, prunedNote, rebuildRepo, type RepoContext } from '../pkg-repo.ts';
import { readInside } from '../pkg-tree.ts';
import { debArch, debControl } from './control.ts';
import { buildDeb } from './build-deb.ts';
import { DEFAULT_VALID_DAYS, KEY_FILE, SOURCES_FILE, releaseFile, sourcesFile } from './repo-files.ts';

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
      debControl({ ...i.manifest, toolVersion: i.manifest.tool.version, size: i.manifest.size, ...proofOf(i) });
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

  const notes: string[] = [];
  const ctx: RepoContext = {
    dir,
    specs: [`apt:${dir}`, `apt:${spec}`],
    shape: {
      kind: 'apt',
      pool: POOL,
      files: ['Packages', 'Packages.gz', 'Release', 'InRelease', 'Release.gpg', KEY_FILE, SOURCES_FILE],
      dirs: [],
      complete: ['Packages', 'Release', SOURCES_FILE],
      // nbd-modules-<release>_<version>_amd64.deb: one package (one version) per kernel.
      slot: (f) => f.split('_')[0],
      // A run with nothing new re-signs once half the validity has passed: a repository that does
      // not change must not expire under hosts whose admin re-runs publish from cron.
      fresh: async (realRoot) => {
        const until = await validUntil(realRoot);
        const days = opts.validForDays ?? DEFAULT_VALID_DAYS;
        return until !== undefined && until - ctx.now().getTime() > (days * 86_400_000) / 2;
      },
    },
    storeRoot: opts.paths.store,
    signer: opts.gpgKey ?? '',
    prune: !!opts.pruneForeign,
    pruned: (aside, foreign) => notes.push(prunedNote(aside, foreign)),
    now: opts.now ?? (() => new Date()),
    signal: opts.signal,
  };

  async function publish(items: PublishItem[], progress: Parameters<PublishTarget['publish']>[1]): Promise<PublishOutcome[]> {
    await check(items);
    const outcomes = await rebuildRepo(ctx, items, {
      packages: (its, work) =>
        mapLimit(its, os.availableParallelism(), async (item) => {
          progress({ kernelRelease: item.entry.kernelRelease, stage: 'dpkg-deb' });
          return { item, file: await buildDeb(item, work, opts.env) };
        }),
      indexes: (stage) => writeIndexes(stage),
    });
    for (const o of outcomes) progress({ kernelRelease: o.kernelRelease, stage: 'written', bytes: o.bytesSent });
    return outcomes;
  }

  /** Packages over exactly the staged pool, Release (Valid-Until), its signatures, the key and the sources file, all in `stage`. */
  async function writeIndexes(stage: string): Promise<{ write: string[]; drop: string[] }> {
    const packages = (await run('apt-ftparchive', ['packages', POOL], { cwd: stage, env: { ...opts.env, LC_ALL: 'C' }, maxBuffer: 256 << 20, timeoutMs: SLOW_TOOL_MS })).bytes;
    const gz = gzipSync(packages, { level: 9 });
    const arch = [...new Set([...packages.toString().matchAll(/^Architecture: (\S+)$/gm)].map((m) => m[1]))].sort();
    const at = (name: string) => path.join(stage, name);
    await fs.writeFile(at('Packages'), packages);
    await fs.writeFile(at('Packages.gz'), gz);
    const now = ctx.now();
    const validUntil = new Date(now.getTime() + (opts.validForDays ?? DEFAULT_VALID_DAYS) * 86_400_000);
    await fs.writeFile(at('Release'), releaseFile([{ name: 'Packages', data: packages }, { name: 'Packages.gz', data: gz }], arch, now, validUntil));
    // Packages first, then the files that name their hashes (InRelease last: apt reads it first).
    const write = ['Packages', 'Packages.gz'];
    let drop: string[] = [];
    if (key) {
      await gpg.detachSign(key, at('Release'), at('Release.gpg'), false);
      await gpg.clearSign(key, at('Release'), at('InRelease'));
      const armored = (await gpg.exportPublic(key, true)).toString();
      await fs.writeFile(at(KEY_FILE), armored);
      await fs.writeFile(at(SOURCES_FILE), sourcesFile(dir, { signedBy: { ...key, armoredKey: armored } }));
      write.push('Release.gpg', 'Release', 'InRelease', KEY_FILE, SOURCES_FILE);
    } else {
      await fs.writeFile(at(SOURCES_FILE), sourcesFile(dir, { unsigned: !!opts.unsigned }));
      write.push('Release', SOURCES_FILE);
      drop = ['InRelease', 'Release.gpg', KEY_FILE];
    }
    return { write, drop };
  }

  return { spec: `apt:${dir}`, kind: 'apt', check, publish, holds: (items) => holds(ctx, items), notes: () => notes };
}

/** The Valid-Until of the Release in the target (read without following links), if it has one. */
async function validUntil(realRoot: string): Promise<number | undefined> {
  const st = await fs.lstat(path.join(realRoot, 'Release')).catch(() => undefined);
  if (!st?.isFile() || st.size > 1 << 20) return undefined;
  const tmp = path.join(os.tmpdir(), `nbdforge-release-${process.pid}-${Date.now()}`);
  try {
    await readInside(realRoot, 'Release', tmp);
    const m = /^Valid-Until: (.+)$/m.exec(await fs.readFile(tmp, 'utf8'));
    const t = m ? Date.parse(m[1].replace(/ UTC$/, ' GMT')) : NaN;
    return Number.isNaN(t) ? undefined : t;
  } catch {
    return undefined;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}
