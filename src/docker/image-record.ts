/**
 * The builder image each context was last ensured as, recorded so a build whose artifact is already
 * stored can be answered while no engine answers. A build key includes the builder image id, and an
 * image's tag hashes its context, build args and the base image's id, which only the engine knows.
 * The record is keyed by everything that is known without an engine (repository, context files,
 * build args, base image name); it is read only when the engine is unreachable, and only a store hit
 * for the key it gives is taken: a miss still needs the engine (see session.ts).
 */
import fs from 'node:fs/promises';
import type { BuiltImage, ImageSpec } from './image.ts';
import { readContext } from './image.ts';
import { canonicalJson, sha256 } from '../util/hash.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { EngineUnreachableError } from './errors.ts';
import { passKept, type Containers } from './containers.ts';

export interface ImageRecord {
  tag: string;
  id: string;
  recordedAt: string;
}

/** Everything of an image spec that is known without an engine. */
export async function localSpecKey(spec: ImageSpec): Promise<string> {
  const files = await readContext(spec.contextDir);
  return sha256(canonicalJson({ repo: spec.repo, files: files.map((f) => [f.name, f.mode, sha256(f.data)]), args: spec.buildArgs, base: spec.baseImage }));
}

async function readRecords(file: string): Promise<Record<string, ImageRecord>> {
  const v = await fs.readFile(file, 'utf8').then((t) => JSON.parse(t) as unknown, () => undefined);
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, ImageRecord>) : {};
}

const valid = (r: ImageRecord | undefined): r is ImageRecord =>
  !!r && typeof r.tag === 'string' && typeof r.id === 'string' && /^sha256:[0-9a-f]{64}$/.test(r.id) && typeof r.recordedAt === 'string';

/**
 * The door with the record kept: each ensured image is written down; when the engine is unreachable
 * the recorded image is returned with `recorded` set, so the caller can look its build key up in the
 * store (any container run still fails with the engine's error).
 */
export function recordedImages(inner: Containers, file: string, log?: (line: string) => void): Containers {
  return {
    async ensureImage(spec, onLog) {
      let key: string | undefined;
      try {
        const img = await inner.ensureImage(spec, onLog);
        key = await localSpecKey(spec);
        const all = await readRecords(file);
        if (all[key]?.id !== img.id || all[key]?.tag !== img.tag) {
          all[key] = { tag: img.tag, id: img.id, recordedAt: new Date().toISOString() };
          await writeFileAtomic(file, JSON.stringify(all, null, 2) + '\n').catch(() => undefined);
        }
        return img;
      } catch (err) {
        if (!(err instanceof EngineUnreachableError)) throw err;
        const rec = (await readRecords(file))[key ?? (await localSpecKey(spec))];
        if (!valid(rec)) throw err;
        log?.(`engine unreachable: using the builder image ${rec.tag} (${rec.id.slice(7, 19)}) recorded ${rec.recordedAt}; only a stored build can be answered`);
        return { tag: rec.tag, id: rec.id, built: false, recorded: true } as BuiltImage;
      }
    },
    run: (spec) => inner.run(spec),
    ...passKept(inner),
  };
}
