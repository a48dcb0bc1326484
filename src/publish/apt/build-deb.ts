/**
 * One .deb with dpkg-deb on the host (a Debian host tool; no container: the package is files plus
 * two shell scripts, nothing is compiled). The module is copied, not rebuilt: the same bytes as the
 * store's, which the tests check after a real apt-get install.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { run, SLOW_TOOL_MS } from '../../doors/exec.ts';
import type { PublishItem } from '../target.ts';
import { copyVerified } from '../package-channel.ts';
import { debArch, debControl, debPackageName, debVersion, modulePathIn, postinst, postrm, proofDocPath } from './control.ts';
import { proofOf } from '../package-channel.ts';

export function debFileName(item: PublishItem): string {
  const m = item.manifest;
  // The file name drops an epoch (none here) and keeps the version's '+' as is.
  return `${debPackageName(m)}_${debVersion(m)}_${debArch(m.kernelRelease)}.deb`;
}

/** Build the .deb for `item` in `work`; returns its path. */
export async function buildDeb(item: PublishItem, work: string, env: NodeJS.ProcessEnv): Promise<string> {
  const m = item.manifest;
  const root = await fs.mkdtemp(path.join(work, 'deb-'));
  const rel = modulePathIn(m);
  await fs.mkdir(path.join(root, path.dirname(rel)), { recursive: true });
  await copyVerified(item, path.join(root, rel));
  await fs.chmod(path.join(root, rel), 0o644);
  const data = await fs.readFile(path.join(root, rel));
  const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
  let sums = `${md5(data)}  ${rel}\n`;
  if (item.proof) {
    const doc = proofDocPath(m);
    await fs.mkdir(path.join(root, path.dirname(doc)), { recursive: true });
    await fs.writeFile(path.join(root, doc), item.proof.bytes, { mode: 0o644 });
    sums += `${md5(item.proof.bytes)}  ${doc}\n`;
  }
  await fs.mkdir(path.join(root, 'DEBIAN'));
  await fs.writeFile(path.join(root, 'DEBIAN/control'), debControl({ ...m, toolVersion: m.tool.version, size: data.length + (item.proof?.bytes.length ?? 0), ...proofOf(item) }));
  await fs.writeFile(path.join(root, 'DEBIAN/md5sums'), sums);
  await fs.writeFile(path.join(root, 'DEBIAN/postinst'), postinst(m.kernelRelease), { mode: 0o755 });
  await fs.writeFile(path.join(root, 'DEBIAN/postrm'), postrm(m.kernelRelease), { mode: 0o755 });
  // The scratch dir comes from mkdtemp (0700): the package's directories must say 0755.
  await run('find', [root, '-type', 'd', '-exec', 'chmod', '0755', '{}', '+']);
  const out = path.join(work, debFileName(item));
  const epoch = String(Math.floor(Date.parse(m.createdAt) / 1000) || 0);
  // xz: what dpkg everywhere reads; SOURCE_DATE_EPOCH: the same artifact makes the same package.
  await run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, out], { env: { ...env, SOURCE_DATE_EPOCH: epoch, LC_ALL: 'C' }, timeoutMs: SLOW_TOOL_MS });
  await fs.rm(root, { recursive: true, force: true });
  return out;
}
