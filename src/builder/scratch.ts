import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ownerAlive, ownerStamp } from '../util/file-lock.ts';

/** Scratch directories of builds: /tmp/nbdforge-<kernel>-XXXXXX, each with an owner stamp. */
const OWNER = '.nbdforge-owner';
const PATTERN = /^nbdforge-[A-Za-z0-9._+~-]+-[A-Za-z0-9]{6}$/;

export async function makeScratch(kernelRelease: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `nbdforge-${kernelRelease}-`));
  await fs.writeFile(path.join(dir, OWNER), ownerStamp());
  return dir;
}

export interface LeftoverScratch {
  path: string;
  pid?: number;
}

/**
 * Scratch directories whose build is gone (a kill -9 leaves them): only directories nbdforge made
 * (its name pattern and owner stamp, a real directory, not a symlink) whose owner is not running.
 */
export async function leftoverScratch(tmp = os.tmpdir()): Promise<LeftoverScratch[]> {
  const out: LeftoverScratch[] = [];
  for (const d of await fs.readdir(tmp, { withFileTypes: true }).catch(() => [])) {
    if (!d.isDirectory() || !PATTERN.test(d.name)) continue;
    const dir = path.join(tmp, d.name);
    const stamp = await fs.readFile(path.join(dir, OWNER), 'utf8').catch(() => undefined);
    if (stamp === undefined) continue; // not a build's (or not stamped yet): never ours to judge
    const owner = ownerAlive(stamp);
    if (!owner.alive && owner.pid !== undefined) out.push({ path: dir, pid: owner.pid });
  }
  return out;
}

/** Kernels whose builds are running now (a scratch directory whose owner is alive), with the owner's pid. */
export async function runningBuilds(tmp = os.tmpdir()): Promise<Array<{ kernelRelease: string; pid?: number }>> {
  const out: Array<{ kernelRelease: string; pid?: number }> = [];
  for (const d of await fs.readdir(tmp, { withFileTypes: true }).catch(() => [])) {
    if (!d.isDirectory() || !PATTERN.test(d.name)) continue;
    const stamp = await fs.readFile(path.join(tmp, d.name, OWNER), 'utf8').catch(() => undefined);
    if (stamp === undefined) continue;
    const owner = ownerAlive(stamp);
    if (owner.alive) out.push({ kernelRelease: d.name.slice('nbdforge-'.length, -'-XXXXXX'.length), pid: owner.pid });
  }
  return out;
}
