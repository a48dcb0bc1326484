import fs from 'node:fs/promises';
import path from 'node:path';
import { parseManifest } from './manifest.ts';
import { type IndexEntry, isLayoutDir, isSafeName } from './store-layout.ts';
import { sha256File } from '../util/hash.ts';

async function dirs(dir: string): Promise<string[]> {
  const list = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  return list.filter((d) => d.isDirectory() && isSafeName(d.name)).map((d) => d.name);
}

/**
 * Index entries for every artifact directory under `root` whose manifest is valid, names that very
 * directory, and whose module still hashes to it; the newest per (family, kernel, module) wins.
 * Used to rebuild a corrupt index: symlinks, foreign names and damaged artifacts are left out.
 */
export async function scanLayout(root: string): Promise<IndexEntry[]> {
  const best = new Map<string, IndexEntry>();
  for (const family of await dirs(root))
    for (const kernel of await dirs(path.join(root, family)))
      for (const name of await dirs(path.join(root, family, kernel))) {
        const dir = `${family}/${kernel}/${name}`;
        try {
          const file = path.join(root, dir, 'manifest.json');
          if ((await fs.stat(file)).size > 1024 * 1024) continue;
          const m = parseManifest(JSON.parse(await fs.readFile(file, 'utf8')), file);
          if (m.family !== family || m.kernelRelease !== kernel || !isLayoutDir(dir, m)) continue;
          if ((await sha256File(path.join(root, dir, m.file))) !== m.sha256) continue;
          const entry: IndexEntry = { key: m.key, family, kernelRelease: kernel, module: m.module, dir, file: m.file, sha256: m.sha256, vermagic: m.vermagic, createdAt: m.createdAt };
          const id = `${family}/${kernel}/${m.module}`;
          const prev = best.get(id);
          if (!prev || prev.createdAt < entry.createdAt) best.set(id, entry);
        } catch {
          // not an artifact (or a damaged one): it stays on disk, unindexed
        }
      }
  return [...best.values()].sort((a, b) => a.family.localeCompare(b.family) || a.kernelRelease.localeCompare(b.kernelRelease, undefined, { numeric: true }));
}
