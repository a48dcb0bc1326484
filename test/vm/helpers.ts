/**
 * Shared by the vm tests: real artifacts from the real build, into a store the tests own. Downloads
 * and catalogs go to the usual cache, shared with the docker tier and quickstart, so after those the
 * builds here are cheap (and a cache hit from the second run on).
 */
import { $, path } from 'zx';
import * as assert from 'uvu/assert';
import { resolvePaths } from '../../src/paths.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { fs } from 'zx';
import { Writable } from 'node:stream';
import { main } from '../../src/cli.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const STORE = process.env.NBDFORGE_TEST_STORE ?? path.join(resolvePaths(process.env).home, 'test-vm', 'store');
export const CLI = path.join(ROOT, 'bin/nbdforge.js');

export interface Artifact {
  release: string;
  sha: string;
  bytes: Buffer;
  vermagic: string;
}

/** Build (or find: a cache hit when the inputs are stored) the real nbd.ko for a kernel. */
export async function artifactFor(release: string): Promise<Artifact> {
  await $({ cwd: ROOT, quiet: true })`node ${CLI} build --family debian12 --kernel ${release} --store ${STORE}`;
  const store = new DirStore(STORE);
  const [entry] = await store.list({ kernelRelease: release, module: 'nbd' });
  assert.ok(entry, `build stored no nbd artifact for ${release}`);
  return { release, sha: entry.sha256, bytes: await fs.readFile(store.artifactPath(entry)), vermagic: entry.vermagic };
}

/** The real command, in-process: `nbdforge ARGS...`; returns its exit status and what it printed. */
export async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  return cliWith(undefined, ...args);
}

/** `cli` with its own environment (undefined: the process's). */
export async function cliWith(env: NodeJS.ProcessEnv | undefined, ...args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const sink = new Writable({ write: (c, _e, cb) => ((out += c.toString()), cb()) }) as unknown as NodeJS.WriteStream;
  const code = await main(args, { ...(env ? { env } : {}), stdout: sink, stderr: sink });
  return { code, out };
}

/** `nbdforge ARGS... --emit-script SHARE/FILE`, which must succeed: the guest runs FILE. */
export async function emitInto(share: string, file: string, ...args: string[]): Promise<void> {
  const r = await cli(...args, '--emit-script', path.join(share, file));
  assert.is(r.code, 0, `nbdforge ${args.join(' ')} --emit-script failed: ${r.out}`);
}
