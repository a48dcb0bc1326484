/**
 * `--to dir:PATH`: a tree any static web server can serve, with index.json (signed with --gpg-key),
 * SHA256SUMS, and install.sh for hosts without Node. The same bytes as the store: modules are copied,
 * never rebuilt. Each file appears whole (written beside, then renamed); index.json and its signature
 * are written last, so a reader sees the old index or the new one over files that exist.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { PublishItem, PublishOutcome, PublishProgress, PublishTarget, TargetOptions } from '../target.ts';
import { PublishRefusedError } from '../errors.ts';
import { writeFileAtomic } from '../../util/atomic.ts';
import { withFileLock } from '../../util/file-lock.ts';
import { sha256, sha256File } from '../../util/hash.ts';
import { type DirIndex, type DirIndexEntry, INDEX, PLAN, MAX_INDEX_BYTES, parseIndex, checkEntry } from './layout.ts';
import { signingFingerprint } from './gpg.ts';
import { writeTopFiles } from './top-files.ts';
import { renderPlanScript } from './plan-script.ts';
import { renderInstallSh, INSTALL_SH_ID } from './install-sh.ts';
import { checkWritable } from '../writable.ts';

export function createTarget(spec: string, opts: TargetOptions): PublishTarget {
  return new DirTarget(path.resolve(spec), opts);
}

const VERSION: string = createRequire(import.meta.url)('../../../package.json').version;
/** Names the installer too: a directory written by another nbdforge or install.sh is refreshed whole. */
const generatorOf = (_opts: TargetOptions) => `nbdforge ${VERSION} publish --to dir (install.sh ${INSTALL_SH_ID})`;

export class DirTarget implements PublishTarget {
  readonly kind = 'dir';
  readonly spec: string;
  private fingerprint?: string;

  constructor(
    readonly root: string,
    private readonly opts: TargetOptions,
  ) {
    this.spec = `dir:${root}`;
  }

  async check(_items: PublishItem[]): Promise<void> {
    await checkWritable('dir', this.root);
    if (this.opts.gpgKey) this.fingerprint = await signingFingerprint(this.opts.gpgKey, this.opts.env);
    if (this.opts.baseUrl !== undefined) renderInstallSh({ url: this.opts.baseUrl, generator: 'check' });
    // An index we cannot read would be overwritten without the artifacts it lists: refuse instead.
    await this.readIndex();
  }

  notes(): string[] {
    const url = this.opts.baseUrl ?? 'URL';
    const from = this.opts.baseUrl ? '' : ` -s -- --from ${url}`;
    return [
      this.fingerprint ? `index.json signed by ${this.fingerprint} (install.sh pins it)` : 'index.json is NOT signed (--gpg-key KEY signs it): hosts must pass --index-sha256 or opt out',
      `hosts: curl -fsSL ${url}/install.sh | sh${from}`,
      ...(this.fingerprint ? [`   or: nbdforge prepare-host --from ${url} --fingerprint ${this.fingerprint}`] : []),
    ];
  }

  /**
   * Keys whose module our index.json lists and the directory holds with the right size, with the
   * plan script this nbdforge would write, under an index written by this nbdforge's install.sh.
   */
  async holds(items: PublishItem[]): Promise<Set<string>> {
    const idx = await this.readIndex().catch(() => undefined);
    const out = new Set<string>();
    const generator = generatorOf(this.opts);
    if (idx?.generator !== generator) return out;
    for (const a of idx.artifacts) {
      const item = items.find((i) => i.entry.key === a.key);
      if (!item || a.planSha256 !== sha256(renderPlanScript(item.manifest, generator))) continue;
      const st = await fs.stat(path.join(this.root, a.path)).catch(() => undefined);
      if (st?.size === a.size) out.add(a.key);
    }
    return out;
  }

  /** Two publishes into one directory take turns: each merges into the index the other left. */
  async publish(items: PublishItem[], progress: PublishProgress): Promise<PublishOutcome[]> {
    await fs.mkdir(this.root, { recursive: true });
    return withFileLock(path.join(this.root, '.nbdforge-publish.lock'), () => this.publishLocked(items, progress), this.opts.signal);
  }

  private async publishLocked(items: PublishItem[], progress: PublishProgress): Promise<PublishOutcome[]> {
    const old = (await this.readIndex())?.artifacts ?? [];
    const generator = generatorOf(this.opts);
    const fresh: DirIndexEntry[] = [];
    const outcomes: PublishOutcome[] = [];
    for (const item of items) {
      const e = item.entry;
      progress({ kernelRelease: e.kernelRelease, stage: 'copying' });
      const dir = path.join(this.root, e.dir);
      const plan = renderPlanScript(item.manifest, generator);
      const manifest = await fs.readFile(item.manifestPath);
      let bytes = 0;
      bytes += await this.put(path.join(dir, e.file), item.modulePath, item.manifest.sha256);
      bytes += await this.putData(path.join(dir, 'manifest.json'), manifest);
      bytes += await this.putData(path.join(dir, PLAN), Buffer.from(plan));
      const entry: DirIndexEntry = {
        key: e.key,
        family: e.family,
        kernelRelease: e.kernelRelease,
        module: e.module,
        dir: e.dir,
        file: e.file,
        path: `${e.dir}/${e.file}`,
        sha256: item.manifest.sha256,
        size: item.manifest.size,
        vermagic: item.manifest.vermagic.trim().split(/\s+/).join(' '),
        manifestSha256: sha256(manifest),
        plan: `${e.dir}/${PLAN}`,
        planSha256: sha256(plan),
        createdAt: e.createdAt,
      };
      checkEntry(entry, `${this.spec}: ${e.kernelRelease}`);
      fresh.push(entry);
      outcomes.push({ key: e.key, kernelRelease: e.kernelRelease, ref: entry.path, bytesSent: bytes });
      progress({ kernelRelease: e.kernelRelease, stage: 'copied', bytes });
    }
    // One module per (family, kernel, module): a newer build replaces the old one.
    const same = (a: DirIndexEntry, b: DirIndexEntry) => a.family === b.family && a.kernelRelease === b.kernelRelease && a.module === b.module;
    const replaced = old.filter((a) => fresh.some((f) => same(a, f)) && !fresh.some((f) => f.dir === a.dir));
    const artifacts = [...old.filter((a) => !fresh.some((f) => same(a, f))), ...fresh].sort(
      (a, b) => a.family.localeCompare(b.family) || a.kernelRelease.localeCompare(b.kernelRelease, undefined, { numeric: true }),
    );
    await writeTopFiles(this.root, { schema: 1, format: 'nbdforge-dir', generator, generatedAt: new Date().toISOString(), artifacts }, { fingerprint: this.fingerprint, url: this.opts.baseUrl, env: this.opts.env });
    for (const r of replaced) await fs.rm(path.join(this.root, r.dir), { recursive: true, force: true });
    return outcomes;
  }

  private async readIndex(): Promise<DirIndex | undefined> {
    const file = path.join(this.root, INDEX);
    let text: string;
    try {
      const st = await fs.stat(file);
      if (st.size > MAX_INDEX_BYTES) throw new PublishRefusedError(`${file}: ${st.size} bytes, too large for an index; publish to an empty directory`);
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      return parseIndex(text, file);
    } catch (err) {
      throw new PublishRefusedError(`${(err as Error).message}; this directory holds something else: publish to an empty directory or one nbdforge wrote`);
    }
  }

  /** Copy a module unless the destination already holds those bytes; returns the bytes written. */
  private async put(dest: string, src: string, sha: string): Promise<number> {
    const st = await fs.stat(dest).catch(() => undefined);
    if (st?.isFile() && (await sha256File(dest)) === sha) return 0;
    const data = await fs.readFile(src);
    if (sha256(data) !== sha) throw new Error(`${src} changed while being published (sha256 no longer ${sha})`);
    await writeFileAtomic(dest, data);
    return data.length;
  }

  private async putData(dest: string, data: Uint8Array): Promise<number> {
    const cur = await fs.readFile(dest).catch(() => undefined);
    if (cur && Buffer.compare(cur, data) === 0) return 0;
    await writeFileAtomic(dest, data);
    return data.length;
  }
}
