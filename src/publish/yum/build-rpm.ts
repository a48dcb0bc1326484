/**
 * One kmod RPM with the host's rpmbuild (not in the family's builder container): publishing never
 * builds or needs a builder image (a CentOS 7 image cannot even be pulled here), the package holds
 * no compiled code of its own, and every format choice rpm 4.11 depends on is pinned in the spec
 * (spec.ts) instead of taken from the building rpm's defaults; the tests read them back from each
 * package's header.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run, SLOW_TOOL_MS } from '../../doors/exec.ts';
import type { PublishItem } from '../target.ts';
import { copyVerified, proofOf } from '../package-channel.ts';
import { depmodConf, kmodSpec, rpmFileName } from './spec.ts';

/** Build the RPM for `item` and leave it in `outDir`; returns its path. */
export async function buildKmodRpm(item: PublishItem, outDir: string, env: NodeJS.ProcessEnv, kabi?: string[]): Promise<string> {
  const m = item.manifest;
  const spec = kmodSpec({ kernelRelease: m.kernelRelease, module: m.module, sha256: m.sha256, vermagic: m.vermagic, key: m.key, toolVersion: m.tool.version, ...proofOf(item), kabi });
  // A private top directory with a plain name: rpm macros would misread '%' or spaces in the target path.
  const top = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-rpm-'));
  try {
    const sources = path.join(top, 'SOURCES');
    await fs.mkdir(sources);
    await copyVerified(item, path.join(sources, `${m.module}.ko`));
    await fs.writeFile(path.join(sources, `kmod-${m.module}.conf`), depmodConf(m.module));
    if (item.proof) await fs.writeFile(path.join(sources, 'proof.json'), item.proof.bytes);
    const specFile = path.join(top, `kmod-${m.module}.spec`);
    await fs.writeFile(specFile, spec);
    // Build time and file times from the artifact, not the clock: the same artifact makes the same package.
    const epoch = String(Math.floor(Date.parse(m.createdAt) / 1000) || 0);
    const arch = spec.match(/^BuildArch: (\S+)$/m)![1];
    await run('rpmbuild', ['-bb', '--target', arch,
      '--define', `_topdir ${top}`,
      '--define', `_tmppath ${top}/tmp`,
      '--define', 'use_source_date_epoch_as_buildtime 1',
      '--define', 'clamp_mtime_to_source_date_epoch 1',
      specFile,
    ], { env: { ...env, SOURCE_DATE_EPOCH: epoch, LC_ALL: 'C' }, timeoutMs: SLOW_TOOL_MS });
    const built = path.join(top, 'RPMS', arch, rpmFileName(m.module, m.kernelRelease));
    const out = path.join(outDir, path.basename(built));
    await fs.copyFile(built, out);
    return out;
  } finally {
    await fs.rm(top, { recursive: true, force: true });
  }
}
