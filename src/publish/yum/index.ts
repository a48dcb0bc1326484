/**
 * `--to yum:DIR` (el families): one kmod RPM per kernel in DIR/Packages/, createrepo_c metadata in
 * DIR/repodata/, and with --gpg-key: RPM header signatures (rpmsign), repodata/repomd.xml.asc, the
 * public key (RPM-GPG-KEY-nbdforge) and nbdforge.repo with gpgcheck=1 and repo_gpgcheck=1.
 * Packages are made in a scratch directory inside DIR and renamed into place only when all of them
 * (signatures included) are done, so a failed run leaves the repository as it was.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import type { PublishItem, PublishOutcome, PublishTarget, TargetOptions } from '../target.ts';
import { createGpg, GpgKeyError, type SigningKey } from '../gpg.ts';
import { checkChannel, checkTools, checkWritable, mapLimit, moveInto, PublishRefusedError, withWorkDir } from '../package-channel.ts';
import { kmodSpec, parseElRelease } from './spec.ts';
import { buildKmodRpm } from './build-rpm.ts';
import { KEY_FILE, REPO_FILE, repoFile } from './repo-file.ts';
import { writeFileAtomic } from '../../util/atomic.ts';

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
      kmodSpec({ kernelRelease: m.kernelRelease, module: m.module, sha256: m.sha256, vermagic: m.vermagic, key: m.key, toolVersion: m.tool.version });
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

  async function publish(items: PublishItem[], progress: Parameters<PublishTarget['publish']>[1]): Promise<PublishOutcome[]> {
    await check(items);
    return withWorkDir(
      dir,
      async (work) => {
        // rpmbuild is mostly xz compressing one file: one per core.
        const rpms = await mapLimit(items, os.availableParallelism(), async (item) => {
          progress({ kernelRelease: item.entry.kernelRelease, stage: 'rpmbuild' });
          return buildKmodRpm(item, work, opts.env);
        });
        if (key && rpms.length) {
          for (const item of items) progress({ kernelRelease: item.entry.kernelRelease, stage: 'rpmsign' });
          await gpg.rpmSign(key, rpms);
        }
        const outcomes: PublishOutcome[] = [];
        for (const [i, item] of items.entries()) {
          const size = (await fs.stat(rpms[i])).size;
          outcomes.push({ key: item.entry.key, kernelRelease: item.entry.kernelRelease, ref: `${PACKAGES}/${path.basename(rpms[i])}`, bytesSent: size });
          progress({ kernelRelease: item.entry.kernelRelease, stage: 'written', bytes: size });
        }
        await moveInto(rpms, path.join(dir, PACKAGES));
        await writeMetadata(work, items[0]?.manifest.module ?? 'nbd');
        return outcomes;
      },
      opts.signal,
    );
  }

  /** repodata/ for everything in Packages/, its signature, the key and the .repo file. */
  async function writeMetadata(work: string, module: string): Promise<void> {
    // gz everywhere: yum 3.4 on CentOS 7 reads gz (createrepo_c 1.x would default to zstd).
    await $({ quiet: true, env: { ...opts.env, LC_ALL: 'C' } })`createrepo_c --quiet --update --checksum sha256 --general-compress-type gz --excludes ${'.nbdforge-*'} ${dir}`;
    const repomd = path.join(dir, 'repodata', 'repomd.xml');
    if (key) {
      const sig = path.join(work, 'repomd.xml.asc');
      await gpg.detachSign(key, repomd, sig);
      await fs.rename(sig, `${repomd}.asc`);
      await writeFileAtomic(path.join(dir, KEY_FILE), await gpg.exportPublic(key, true));
    } else {
      await fs.rm(`${repomd}.asc`, { force: true });
    }
    await writeFileAtomic(path.join(dir, REPO_FILE), repoFile(dir, module, key));
  }

  return { spec: `yum:${spec}`, kind: 'yum', check, publish };
}
