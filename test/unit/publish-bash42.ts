/**
 * bash 4.2, CentOS 7's /bin/sh, for shell tests: a static build from ../shared/el7-userland (the
 * upstream sources). Found in the cache if some run already built it, else built once (a few minutes).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { resolvePaths } from '../../src/paths.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

export async function bash42(): Promise<string> {
  const cache = path.join(resolvePaths(process.env).cache, 'el7-userland');
  const dirs = await fs.readdir(cache).catch(() => [] as string[]);
  for (const d of dirs) {
    const b = path.join(cache, d, 'bin', 'bash');
    try {
      if (/version 4\.2\./.test(execFileSync(b, ['--version'], { encoding: 'utf8' }))) return b;
    } catch {
      // not there or not runnable: try the next
    }
  }
  const build = path.resolve(ROOT, '../shared/el7-userland/build.sh');
  const prefix = path.join(cache, 'publish-tests');
  execFileSync('bash', [build, prefix], { stdio: ['ignore', 'ignore', 'inherit'] });
  return path.join(prefix, 'bin', 'bash');
}
