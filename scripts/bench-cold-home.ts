/**
 * What the cold benches share: an empty NBDFORGE_HOME of their own with the shared catalog and apt
 * lists copied in (so every side fetches exactly the same packages, and the shared cache is never
 * touched), removed afterwards whatever happened, and the disk synced before the next side starts.
 */
import { $, fs, os, path } from 'zx';
import { resolvePaths } from '../src/paths.ts';

export const sharedDebian12 = () => path.join(resolvePaths(process.env).cache, 'debian12');

export async function withColdHome<T>(fn: (home: string) => Promise<T>): Promise<T> {
  const shared = sharedDebian12();
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-bench-cold-'));
  try {
    await fs.mkdirp(path.join(home, 'cache', 'debian12'));
    await fs.copy(path.join(shared, 'catalog.json'), path.join(home, 'cache', 'debian12', 'catalog.json'));
    await fs.copy(path.join(shared, 'apt-lists'), path.join(home, 'cache', 'debian12', 'apt-lists'));
    return await fn(home);
  } finally {
    await fs.remove(home);
    // The side that ran writes (and then deletes) GBs the next side would otherwise find still being
    // flushed: measured, the second side's kbuild unpack and compile ran 2-4x slower without this.
    await $`sync`;
  }
}
