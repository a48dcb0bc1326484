import fs from 'node:fs/promises';
import path from 'node:path';
import { sha256, canonicalJson } from '../util/hash.ts';
import { type Engine, LABEL } from './engine.ts';
import { ContainerError } from './errors.ts';

export interface ImageSpec {
  /** Repository part of the tag, e.g. nbdforge/debian12-builder. */
  repo: string;
  /** Directory holding the Dockerfile and every file it copies (flat). */
  contextDir: string;
  buildArgs: Record<string, string>;
  /** Base image whose id joins the hash, so a re-imported base rebuilds the builder. */
  baseImage: string;
  /** What to tell the user when the base image is missing. */
  missingBaseHint?: string;
}

export interface BuiltImage {
  tag: string;
  id: string;
  /** True when this call built it. */
  built: boolean;
  /** Taken from the record of an earlier run because the engine was unreachable (image-record.ts). */
  recorded?: boolean;
}

/**
 * A builder's context: the regular files of its folder, plus the files its `context.json` takes from
 * sibling folders (`{"from": {"compile.sh": "../common/compile.sh"}}`: shared scripts, kept once,
 * with no symlinks, which npm pack leaves out). context.json itself is not sent.
 */
export async function readContext(dir: string): Promise<Array<{ name: string; data: Buffer; mode: number }>> {
  const names = (await fs.readdir(dir)).sort();
  const files = [];
  for (const name of names) {
    if (name === CONTEXT_FILE) continue;
    const st = await fs.stat(path.join(dir, name));
    if (st.isFile()) files.push({ name, data: await fs.readFile(path.join(dir, name)), mode: st.mode & 0o777 });
  }
  const from = await fs.readFile(path.join(dir, CONTEXT_FILE), 'utf8').then((t) => (JSON.parse(t) as { from?: Record<string, string> }).from ?? {}, (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return {};
    throw new Error(`${path.join(dir, CONTEXT_FILE)}: ${err.message}`);
  });
  const containers = path.dirname(dir);
  for (const [name, rel] of Object.entries(from)) {
    const src = path.resolve(dir, rel);
    if (!/^[\w.-]+$/.test(name) || files.some((f) => f.name === name) || !src.startsWith(containers + path.sep))
      throw new Error(`${path.join(dir, CONTEXT_FILE)}: "${name}": "${rel}" must be a new plain name taken from a folder beside ${path.basename(dir)}`);
    const st = await fs.lstat(src);
    if (!st.isFile()) throw new Error(`${path.join(dir, CONTEXT_FILE)}: ${rel} is not a regular file`);
    files.push({ name, data: await fs.readFile(src), mode: st.mode & 0o777 });
  }
  return files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

const CONTEXT_FILE = 'context.json';

/** Tag = hash of the context (names, modes, bytes), build args and base image id. */
export function imageTag(docker: Engine, spec: ImageSpec): Promise<string> {
  return imageTagWith((name) => docker.getImage(name).inspect().then((i) => i.Id), spec);
}

/** The same, with the engine asked through `inspectId` (an image's id; undefined or a throw: missing). */
export async function imageTagWith(inspectId: (name: string) => Promise<string | undefined>, spec: ImageSpec): Promise<string> {
  const files = await readContext(spec.contextDir);
  const missing = () => new Error(`base image ${spec.baseImage} is missing; ${spec.missingBaseHint ?? 'run `npm run setup` to create it'}`);
  const base = await inspectId(spec.baseImage).catch(() => {
    throw missing();
  });
  if (base === undefined) throw missing();
  const h = sha256(canonicalJson({ files: files.map((f) => [f.name, f.mode, sha256(f.data)]), args: spec.buildArgs, base }));
  return `${spec.repo}:${h.slice(0, 16)}`;
}

const inflight = new Map<string, Promise<BuiltImage>>();

/** Build the image unless an image with the same content tag exists; concurrent callers share one build. */
export function ensureImage(docker: Engine, spec: ImageSpec, onLog?: (line: string) => void): Promise<BuiltImage> {
  const key = `${spec.repo}|${spec.contextDir}|${canonicalJson(spec.buildArgs)}`;
  let p = inflight.get(key);
  if (!p) {
    p = doEnsure(docker, spec, onLog).finally(() => inflight.delete(key));
    inflight.set(key, p);
  }
  return p;
}

async function doEnsure(docker: Engine, spec: ImageSpec, onLog?: (line: string) => void): Promise<BuiltImage> {
  const tag = await imageTag(docker, spec);
  const existing = await docker.getImage(tag).inspect().catch(() => undefined);
  if (existing) return { tag, id: existing.Id, built: false };
  onLog?.(`building image ${tag} (first use of this Dockerfile)`);
  const { default: tar } = await import('tar-stream');
  const pack = tar.pack();
  for (const f of await readContext(spec.contextDir)) pack.entry({ name: f.name, mode: f.mode }, f.data);
  pack.finalize();
  const stream = await docker.buildImage(pack as unknown as NodeJS.ReadableStream, {
    t: tag,
    buildargs: { BASE: spec.baseImage, ...spec.buildArgs },
    labels: { [LABEL]: '1' },
    rm: true,
    forcerm: true,
  });
  const tail: string[] = [];
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null, res: Array<{ error?: string }>) => {
        const failed = err ?? res.find((r) => r.error)?.error;
        if (failed) reject(new ContainerError(`building image ${tag} failed: ${String(failed)}`, 1, tail.slice(-30).join('')));
        else resolve();
      },
      (ev: { stream?: string }) => {
        if (ev.stream) {
          tail.push(ev.stream);
        }
      },
    );
  });
  const img = await docker.getImage(tag).inspect();
  return { tag, id: img.Id, built: true };
}
