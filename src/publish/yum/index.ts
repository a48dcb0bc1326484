/**
 * `--to yum:DIR` (el families): one kmod RPM per kernel in DIR/Packages/, createrepo_c metadata in
 * DIR/repodata/, and with --gpg-key: RPM header signatures (rpmsign), repodata/repomd.xml.asc, the
 * public key (RPM-GPG-KEY-nbdforge) and nbdforge.repo with gpgcheck=1 and repo_gpgcheck=1.
 * The repository is rebuilt from the store and the publish records every run (pkg-repo.ts): an RPM
 * nbdforge did not write (or one behind a symlink) is refused, never in repodata. Packages and
 * metadata are staged in a scratch directory inside DIR and renamed into place only when all of
 * them (signatures included) are done, so a failed run leaves the repository as it was.
 * repomd.xml's <revision> is a serial that only grows (see nextRevision).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run, SLOW_TOOL_MS } from '../../doors/exec.ts';
import type { PublishItem, PublishOutcome, PublishTarget, TargetOptions } from '../target.ts';
import { createGpg, GpgKeyError, type SigningKey } from '../../doors/gpg.ts';
import { checkChannel, checkTools, checkWritable, mapLimit, proofOf, PublishRefusedError } from '../package-channel.ts';
import { holds, prunedNote, rebuildRepo, type RepoContext } from '../pkg-repo.ts';
import { readInside } from '../pkg-tree.ts';
import { kmodSpec, parseElRelease } from './spec.ts';
import { buildKmodRpm } from './build-rpm.ts';
import { kabiNotes } from './kabi-note.ts';
import { KEY_FILE, REPO_FILE, repoFile } from './repo-file.ts';

const PACKAGES = 'Packages';

export function createTarget(spec: string, opts: TargetOptions): PublishTarget {
  if (!spec) throw new PublishRefusedError('yum: needs a directory: --to yum:DIR');
  const dir = path.resolve(spec);
  const gpg = createGpg(opts.env);
  let key: SigningKey | undefined;

  async function check(items: PublishItem[]): Promise<void> {
    checkChannel('yum', spec, opts.family, items, opts.env);
    // Render every spec now: a release or manifest text rpm cannot carry is refused before DIR exists.
    for (const i of items) {
      const m = i.manifest;
      parseElRelease(i.entry.kernelRelease);
      kmodSpec({ kernelRelease: m.kernelRelease, module: m.module, sha256: m.sha256, vermagic: m.vermagic, key: m.key, toolVersion: m.tool.version, ...proofOf(i) });
    }
    await checkTools(`yum:${spec}`, { rpmbuild: 'rpm', createrepo_c: 'createrepo-c', ...(opts.gpgKey ? { rpmsign: 'rpm', gpg: 'gnupg' } : {}) }, opts.env);
    if (opts.gpgKey) {
      try {
        key = await gpg.findKey(opts.gpgKey);
      } catch (err) {
        if (err instanceof GpgKeyError) throw new PublishRefusedError(`yum:${spec}: ${err.message}`);
        throw err;
      }
      // rpm 4.11 (CentOS 7) verifies RSA and DSA signatures only.
      const odd = key.signingAlgorithms.filter((a) => a !== 'RSA' && a !== 'DSA');
      if (odd.length) {
        throw new PublishRefusedError(`yum:${spec}: gpg key ${opts.gpgKey} signs with ${odd.join(', ')}; CentOS 7's rpm 4.11 verifies only RSA or DSA signatures: use an RSA key`);
      }
    }
    await checkWritable('yum', dir);
  }

  const notes: string[] = [];
  const ctx: RepoContext = {
    dir,
    specs: [`yum:${dir}`, `yum:${spec}`],
    shape: {
      kind: 'yum',
      pool: PACKAGES,
      files: [KEY_FILE, REPO_FILE],
      dirs: ['repodata'],
      // What createrepo_c writes (sha256-named metadata) and the signature.
      dirFiles: /^(repomd\.xml|repomd\.xml\.asc|[0-9a-f]{64}-(primary|filelists|other)(\.xml\.gz|\.sqlite\.bz2|\.sqlite\.gz))$/,
      complete: ['repodata/repomd.xml', REPO_FILE],
      // kmod-nbd-<kernel NEVRA>.rpm: a rebuild for a kernel has the same name and replaces it.
      slot: (f) => f,
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
      packages: async (its, work) => {
        const kabi = await kabiNotes(its, opts);
        // rpmbuild is mostly xz compressing one file: one per core.
        const rpms = await mapLimit(its, os.availableParallelism(), async (item) => {
          progress({ kernelRelease: item.entry.kernelRelease, stage: 'rpmbuild' });
          return buildKmodRpm(item, work, opts.env, kabi.get(item.entry.kernelRelease));
        });
        if (key && rpms.length) {
          for (const item of its) progress({ kernelRelease: item.entry.kernelRelease, stage: 'rpmsign' });
          await gpg.rpmSign(key, rpms);
        }
        return its.map((item, i) => ({ item, file: rpms[i] }));
      },
      indexes: (stage, realRoot) => writeMetadata(stage, realRoot, items[0]?.manifest.module ?? 'nbd'),
    });
    for (const o of outcomes) progress({ kernelRelease: o.kernelRelease, stage: 'written', bytes: o.bytesSent });
    return outcomes;
  }

  /** repodata/ over exactly the staged Packages/, its signature, the key and the .repo file, all in `stage`. */
  async function writeMetadata(stage: string, realRoot: string, module: string): Promise<{ write: string[]; drop: string[] }> {
    const revision = nextRevision(await previousRevision(realRoot), ctx.now());
    // gz everywhere: yum 3.4 on CentOS 7 reads gz (createrepo_c 1.x would default to zstd).
    await run('createrepo_c', ['--quiet', '--checksum', 'sha256', '--general-compress-type', 'gz', '--revision', String(revision), stage], { env: { ...opts.env, LC_ALL: 'C' }, timeoutMs: SLOW_TOOL_MS });
    const repomd = path.join(stage, 'repodata', 'repomd.xml');
    const write = ['repodata'];
    if (key) {
      await gpg.detachSign(key, repomd, `${repomd}.asc`);
      await fs.writeFile(path.join(stage, KEY_FILE), await gpg.exportPublic(key, true));
      write.push(KEY_FILE);
    }
    await fs.writeFile(path.join(stage, REPO_FILE), repoFile(dir, module, key));
    write.push(REPO_FILE);
    return { write, drop: key ? [] : [KEY_FILE] };
  }

  return { spec: `yum:${dir}`, kind: 'yum', check, publish, holds: (items) => holds(ctx, items), notes: () => notes };
}

/** The previous run's <revision>, read without following links; 0 when absent or not a plain number. */
async function previousRevision(realRoot: string): Promise<number> {
  const tmp = path.join(os.tmpdir(), `nbdforge-repomd-${process.pid}-${Date.now()}`);
  try {
    const st = await fs.lstat(path.join(realRoot, 'repodata/repomd.xml'));
    if (!st.isFile() || st.size > 1 << 20) return 0;
    await readInside(realRoot, 'repodata/repomd.xml', tmp);
    const m = /<revision>(\d{1,15})<\/revision>/.exec(await fs.readFile(tmp, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/**
 * repomd.xml's <revision>: the publish time in seconds, or one more than the last one when the
 * clock went back, so every run's revision is greater than the one before (a serial a mirror or
 * an admin can compare; dnf itself does not, see README).
 */
export function nextRevision(previous: number, now: Date): number {
  return Math.max(Math.floor(now.getTime() / 1000), previous + 1);
}
