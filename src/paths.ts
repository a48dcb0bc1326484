import os from 'node:os';
import path from 'node:path';

/** Where nbdforge keeps its state. Resolved once at the edge (CLI) and passed down. */
export interface Paths {
  /** Root of everything below unless overridden. */
  home: string;
  /** Downloaded sources (debs, rpms), apt lists, catalogs. Safe to delete. */
  cache: string;
  /** The default local artifact store. */
  store: string;
}

export function resolvePaths(env: NodeJS.ProcessEnv, flags: { home?: string; cache?: string; store?: string } = {}): Paths {
  const home = path.resolve(
    flags.home ?? env.NBDFORGE_HOME ?? path.join(env.XDG_DATA_HOME ?? path.join(os.homedir(), '.local', 'share'), 'nbdforge'),
  );
  return {
    home,
    cache: path.resolve(flags.cache ?? env.NBDFORGE_CACHE ?? path.join(home, 'cache')),
    store: path.resolve(flags.store ?? env.NBDFORGE_STORE ?? path.join(home, 'store')),
  };
}
