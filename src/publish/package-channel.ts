/**
 * What the yum and apt targets share: the refusals made before any work (wrong family, a directory
 * that cannot be written, a kernel name the package format cannot carry), the scratch directory
 * inside the target where packages are made before they are moved into place, and the lock that
 * keeps two publishers of one directory apart.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { getFamily } from '../families/index.ts';
import { withFileLock } from '../util/file-lock.ts';
import { sha256File } from '../util/hash.ts';
import type { PublishItem } from './target.ts';
import { proofLabel } from '../artifacts/proof-record.ts';

/** Refused before anything was written (the command exits 3). */
import { PublishRefusedError } from './errors.ts';

export { PublishRefusedError };

const WHY: Record<'yum' | 'apt', string> = {
  yum:
    'an RPM dependency version cannot carry a Debian kernel release such as 6.1.0-56-amd64 (rpmbuild rejects a second "-" in ' +
    '"Requires: kernel-uname-r = 6.1.0-56-amd64"), so Debian families publish .debs to apt:DIR',
  apt: 'el hosts install with rpm and yum, which read no .deb: el families publish kmod RPMs to yum:DIR',
};

/** Every family involved (the --family option and each item's) must use this package channel. */
export function checkChannel(channel: 'yum' | 'apt', spec: string, family: string, items: PublishItem[], env: NodeJS.ProcessEnv): void {
  // --family may be absent (items of one family picked by kernel): then the items' families decide.
  for (const name of new Set([family, ...items.map((i) => i.entry.family)].filter(Boolean))) {
    const fam = getFamily(name, env);
    if (fam.packageChannel !== channel) {
      const other = items.find((i) => i.entry.family === name)?.entry.kernelRelease;
      throw new PublishRefusedError(
        `${channel}:${spec} refuses family ${name}${other ? ` (${other})` : ''}: ${name} publishes to ${fam.packageChannel}:DIR; ${WHY[channel]}`,
      );
    }
  }
}

export { checkWritable } from './writable.ts';

/**
 * Run `fn` holding the target's lock with a scratch directory inside the target (same filesystem,
 * so finished packages are renamed into place). The scratch directory is removed whatever happens.
 */
export async function withWorkDir<T>(dir: string, fn: (work: string) => Promise<T>, signal?: AbortSignal): Promise<T> {
  await fs.mkdir(dir, { recursive: true });
  return withFileLock(
    path.join(dir, '.nbdforge-publish.lock'),
    async () => {
      // Holding the lock, any other scratch directory is a crashed run's: it goes.
      for (const f of await fs.readdir(dir)) if (f.startsWith('.nbdforge-tmp-')) await fs.rm(path.join(dir, f), { recursive: true, force: true });
      const work = await fs.mkdtemp(path.join(dir, '.nbdforge-tmp-'));
      try {
        return await fn(work);
      } finally {
        await fs.rm(work, { recursive: true, force: true });
      }
    },
    signal,
  );
}

/**
 * A manifest value going into a spec or control file: one line of printable ASCII (a newline
 * would start a new spec section or control field), bounded. Manifests are read from disk: untrusted.
 */
export function oneLine(field: string, value: string): string {
  if (typeof value !== 'string' || !/^[\x20-\x7e]{1,300}$/.test(value)) {
    throw new PublishRefusedError(`artifact field ${field} ${JSON.stringify(String(value).slice(0, 80))} is not one line of printable text`);
  }
  return value;
}

/** The one-line proof a package description carries (proofLabel), when the artifact has one. */
export function proofOf(item: PublishItem): { proven?: string } {
  return item.proof ? { proven: proofLabel(item.proof.record) } : {};
}

/**
 * Copy the stored module to `dest` and check the copy against the manifest: what is packaged is
 * what was verified, even if the store changed after the command's own check.
 */
export async function copyVerified(item: PublishItem, dest: string): Promise<void> {
  await fs.copyFile(item.modulePath, dest);
  const got = await sha256File(dest);
  if (got !== item.manifest.sha256) {
    throw new Error(`${item.modulePath}: sha256 ${got} does not match its manifest (${item.manifest.sha256}); nothing published for ${item.entry.kernelRelease}: rebuild it`);
  }
}

/**
 * Run `fn` over `items` with at most `limit` at a time, results in input order. A failure stops
 * new work and is thrown only once every running call has ended: the caller's cleanup (removing
 * the scratch directory) must not race a call still writing into it.
 */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        out[i] = await fn(items[i]);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  const bad = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (bad) throw bad.reason;
  return out;
}

/** Move finished files into `destDir` (rename: each appears whole), replacing same-named ones. */
export async function moveInto(files: string[], destDir: string): Promise<void> {
  await fs.mkdir(destDir, { recursive: true });
  for (const f of files) await fs.rename(f, path.join(destDir, path.basename(f)));
}

/** Each command is on PATH, or the target is refused naming the package that brings it. */
export async function checkTools(kind: string, tools: Record<string, string>, env: NodeJS.ProcessEnv): Promise<void> {
  const dirs = (env.PATH ?? '').split(':').filter(Boolean);
  const missing: string[] = [];
  for (const [cmd, pkg] of Object.entries(tools)) {
    const found = await Promise.all(dirs.map((d) => fs.access(path.join(d, cmd), fs.constants.X_OK).then(() => true, () => false)));
    if (!found.includes(true)) missing.push(`${cmd} (${pkg})`);
  }
  if (missing.length) {
    throw new PublishRefusedError(`${kind} needs ${missing.join(', ')}: apt-get install them (or run scripts/setup-host.ts --with pkgrepo)`);
  }
}
