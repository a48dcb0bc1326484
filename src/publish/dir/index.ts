/**
 * `--to dir:PATH`: a tree any static web server can serve, with index.json (signed with --gpg-key),
 * SHA256SUMS, and install.sh for hosts without Node. The same bytes as the store: modules are copied,
 * never rebuilt.
 *
 * The store and the publish records are the only source of what the index names: every run rebuilds
 * it from this run's items plus what the records say nbdforge published here earlier and the store
 * still holds, each file re-hashed (or rewritten) in this run. Anything else in the tree (an entry
 * someone added to index.json, a file, a symlink anywhere) is foreign: refused, or with
 * --prune-foreign moved into .nbdforge-foreign/ (see tree.ts). Every artifact directory is built in
 * a fresh temporary directory and renamed into place, the top files likewise, index.json last; a run
 * that fails removes what it wrote and puts back what it replaced, leaving the last good tree.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { PublishItem, PublishOutcome, PublishProgress, PublishTarget, TargetOptions } from '../target.ts';
import { PublishRefusedError, TargetSpecError } from '../errors.ts';
import { withFileLock } from '../../util/file-lock.ts';
import { sha256 } from '../../util/hash.ts';
import { type DirIndex, type DirIndexEntry, INDEX, PLAN, MAX_INDEX_BYTES, parseIndex, checkEntry } from './layout.ts';
import { signingFingerprint } from './gpg.ts';
import { writeTopFiles, type Journal } from './top-files.ts';
import { renderPlanScript } from './plan-script.ts';
import { dirNotes } from './notes.ts';
import { renderInstallSh, INSTALL_SH_ID } from './install-sh.ts';
import { checkWritable } from '../writable.ts';
import { PublishRecords, proofField, type PublishRecord } from '../records.ts';
import { DirStore } from '../../artifacts/dir-store.ts';
import { loadItem, verifyItems } from '../select.ts';
import { PROOF_FILE } from '../../artifacts/proof-record.ts';
import { type Expected, LOCK, expectArtifact, expectTop, findForeign, moveAside, removeOwnDir } from './tree.ts';
import { putArtifactDir } from './artifact-dir.ts';
import { BY_RELEASE, RELEASE_MODULE, type ReleaseBytes, expectRelease, releaseCopies, writeReleaseFiles, removeStaleReleases } from './release-files.ts';

export function createTarget(spec: string, opts: TargetOptions): PublishTarget {
  // Checked here, before anything is looked at: a bad --url is a usage error (exit 2).
  if (opts.baseUrl !== undefined) {
    try {
      renderInstallSh({ url: opts.baseUrl, generator: 'check' });
    } catch (err) {
      throw new TargetSpecError((err as Error).message);
    }
  }
  return new DirTarget(path.resolve(spec), opts);
}

const DAY_S = 86_400;

const VERSION: string = createRequire(import.meta.url)('../../../package.json').version;
/** Names the installer too: a directory written by another nbdforge or install.sh is refreshed whole. */
const generatorOf = (_opts: TargetOptions) => `nbdforge ${VERSION} publish --to dir (install.sh ${INSTALL_SH_ID})`;

export class DirTarget implements PublishTarget {
  readonly kind = 'dir';
  readonly spec: string;
  private fingerprint?: string;
  /** What --prune-foreign moved aside or dropped, for the notes. */
  private readonly moved: string[] = [];
  private written?: { serial: number; validUntil: string };

  constructor(
    readonly root: string,
    private readonly opts: TargetOptions,
  ) {
    this.spec = `dir:${root}`;
  }

  async check(items: PublishItem[]): Promise<void> {
    await checkWritable('dir', this.root);
    if (this.opts.gpgKey) this.fingerprint = await signingFingerprint(this.opts.gpgKey, this.opts.env);
    // An index we cannot read would be overwritten without the artifacts it lists: refuse instead.
    if (!this.opts.pruneForeign) await this.readIndex();
    const foreign = await this.foreign(items, await this.records());
    if (foreign.all.length && !this.opts.pruneForeign) throw this.refuseForeign(foreign.all);
  }

  notes(): string[] {
    return dirNotes({ root: this.root, baseUrl: this.opts.baseUrl, fingerprint: this.fingerprint, written: this.written, moved: this.moved });
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
    const copies = new Set(releaseCopies(idx.artifacts));
    for (const a of idx.artifacts) {
      const item = items.find((i) => i.entry.key === a.key);
      if (!item || a.planSha256 !== sha256(renderPlanScript(item.manifest, generator)) || a.proofSha256 !== item.proof?.sha256) continue;
      // the module where the index puts it, and its per-release copy (release-files.ts) when it has one
      const files = [a.path, ...(copies.has(a) ? [`${BY_RELEASE}/${a.kernelRelease}/${RELEASE_MODULE}`] : [])];
      const sts = await Promise.all(files.map((f) => fs.lstat(path.join(this.root, f)).catch(() => undefined)));
      if (sts.every((st) => st?.isFile() && st.size === a.size)) out.add(a.key);
    }
    return out;
  }

  /** Two publishes into one directory take turns: each rebuilds the index from the records the other left. */
  async publish(items: PublishItem[], progress: PublishProgress): Promise<PublishOutcome[]> {
    await fs.mkdir(this.root, { recursive: true });
    return withFileLock(path.join(this.root, LOCK), () => this.publishLocked(items, progress), this.opts.signal);
  }

  private records(): Promise<PublishRecord[]> {
    return new PublishRecords(this.opts.paths.store).read().then((all) => all.filter((r) => r.target === this.spec));
  }

  /** What may be in the tree: the top files, every artifact directory the records name, this run's. */
  private expected(items: PublishItem[], records: PublishRecord[]): Expected {
    const e = expectTop();
    for (const r of records) expectArtifact(e, path.posix.dirname(r.ref), path.posix.basename(r.ref));
    for (const i of items) expectArtifact(e, i.entry.dir, i.entry.file);
    for (const r of [...records, ...items.map((i) => i.entry)]) expectRelease(e, r.kernelRelease);
    return e;
  }

  /** Foreign files (anywhere in the tree) and foreign entries of the current index.json. */
  private async foreign(items: PublishItem[], records: PublishRecord[]): Promise<{ paths: string[]; all: string[] }> {
    const paths = await findForeign(this.root, this.expected(items, records));
    const entries: string[] = [];
    const idx = await this.readIndex().catch(() => undefined);
    for (const a of idx?.artifacts ?? [])
      if (!records.some((r) => r.key === a.key && r.ref === a.path) && !items.some((i) => i.entry.key === a.key && `${i.entry.dir}/${i.entry.file}` === a.path))
        entries.push(`index.json entry ${a.kernelRelease} (key ${a.key.slice(0, 12)}, dir ${a.dir})`);
    return { paths, all: [...entries, ...paths] };
  }

  private refuseForeign(foreign: string[]): PublishRefusedError {
    const shown = foreign.slice(0, 10).join('\n  ') + (foreign.length > 10 ? `\n  ... and ${foreign.length - 10} more` : '');
    return new PublishRefusedError(
      `${this.root} holds ${foreign.length} thing(s) nbdforge did not write (its publish records in ${this.opts.paths.store} say so); nothing was signed or written:\n  ${shown}\n` +
        `  move them away, or pass --prune-foreign to move them into ${this.root}/.nbdforge-foreign/`,
    );
  }

  private async publishLocked(items: PublishItem[], progress: PublishProgress): Promise<PublishOutcome[]> {
    const records = await this.records();
    // Checked again under the lock: the tree may have changed since check().
    const foreign = await this.foreign(items, records);
    if (foreign.all.length && !this.opts.pruneForeign) throw this.refuseForeign(foreign.all);
    // Foreign index entries need no moving: the index is rebuilt without them.
    if (foreign.paths.length) {
      const where = await moveAside(this.root, foreign.paths, new Date().toISOString().replace(/[:.]/g, '-'));
      this.moved.push(`moved ${foreign.paths.length} foreign path(s) into ${path.join(this.root, where)}: ${foreign.paths.join(', ')}`);
    }
    this.moved.push(...foreign.all.filter((f) => !foreign.paths.includes(f)).map((f) => `dropped the foreign ${f}`));
    const oldSerial = (await this.readIndex().catch(() => undefined))?.serial ?? 0;
    const generator = generatorOf(this.opts);

    // Earlier publishes here that the store still holds (same bytes, same place): kept, re-hashed.
    const store = new DirStore(this.opts.paths.store);
    const held = await store.list({});
    const same = (a: { family: string; kernelRelease: string; module: string }, b: typeof a) => a.family === b.family && a.kernelRelease === b.kernelRelease && a.module === b.module;
    const kept = new Map<string, { entry: (typeof held)[number]; at: string }>();
    for (const r of records) {
      const e = held.find((h) => h.key === r.key && h.sha256 === r.sha256 && `${h.dir}/${h.file}` === r.ref);
      if (!e || items.some((i) => same(i.entry, e))) continue;
      const slot = `${e.family}\0${e.kernelRelease}\0${e.module}`;
      if (!kept.has(slot) || kept.get(slot)!.at < r.publishedAt) kept.set(slot, { entry: e, at: r.publishedAt });
    }
    const keptItems: PublishItem[] = await Promise.all([...kept.values()].map(({ entry }) => loadItem(store, entry)));
    await verifyItems(keptItems);

    const j: Journal = { undo: [], done: [] };
    const artifacts: DirIndexEntry[] = [];
    const outcomes: PublishOutcome[] = [];
    const copies = new Map<string, ReleaseBytes>();
    try {
      for (const item of [...items, ...keptItems]) {
        const e = item.entry;
        const isNew = items.includes(item);
        if (isNew) progress({ kernelRelease: e.kernelRelease, stage: 'copying' });
        const plan = Buffer.from(renderPlanScript(item.manifest, generator));
        const manifest = await fs.readFile(item.manifestPath);
        const module = await fs.readFile(item.modulePath);
        if (sha256(module) !== item.manifest.sha256) throw new Error(`${item.modulePath} changed while being published (sha256 no longer ${item.manifest.sha256})`);
        const bytes = await putArtifactDir(this.root, item, module, manifest, plan, j);
        copies.set(e.kernelRelease, { module, plan, proof: item.proof?.bytes });
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
          ...(item.proof ? { proof: `${e.dir}/${PROOF_FILE}`, proofSha256: item.proof.sha256, proofDate: item.proof.record.date.slice(0, 10) } : {}),
        };
        checkEntry(entry, `${this.spec}: ${e.kernelRelease}`);
        artifacts.push(entry);
        if (isNew) {
          outcomes.push({ key: e.key, kernelRelease: e.kernelRelease, ref: entry.path, bytesSent: bytes });
          progress({ kernelRelease: e.kernelRelease, stage: 'copied', bytes });
        }
      }
      artifacts.sort((a, b) => a.family.localeCompare(b.family) || a.kernelRelease.localeCompare(b.kernelRelease, undefined, { numeric: true }) || a.module.localeCompare(b.module));
      const now = Date.now();
      const serial = Math.max(Math.floor(now / 1000), oldSerial + 1);
      const expires = Math.floor(now / 1000) + (this.opts.validForDays ?? 30) * DAY_S;
      const idx: DirIndex = { schema: 1, format: 'nbdforge-dir', generator, generatedAt: new Date(now).toISOString(), serial, validUntil: new Date(expires * 1000).toISOString(), expires, artifacts };
      // kernels/<release>/: what install.sh fetches with the index (release-files.ts)
      const copied = await writeReleaseFiles(this.root, artifacts, copies, j);
      for (const o of outcomes) o.bytesSent += copied.get(o.kernelRelease) ?? 0;
      // Recorded before the index names them, under the lock: the next publish here (this one's
      // records are also written by the caller, after the lock) keeps them and finds nothing foreign.
      await this.record(outcomes, items);
      await writeTopFiles(this.root, idx, { fingerprint: this.fingerprint, url: this.opts.baseUrl, env: this.opts.env }, j);
      this.written = { serial, validUntil: idx.validUntil! };
    } catch (err) {
      for (const u of j.undo.reverse()) await u().catch(() => undefined);
      throw err;
    }
    for (const d of j.done) await d().catch(() => undefined);
    // What the records say nbdforge put here earlier and the new index no longer names.
    const named = new Set(artifacts.map((a) => a.dir));
    for (const dir of new Set(records.map((r) => path.posix.dirname(r.ref)))) if (!named.has(dir)) await removeOwnDir(this.root, dir).catch(() => false);
    await removeStaleReleases(this.root, artifacts);
    return outcomes;
  }

  private async record(outcomes: PublishOutcome[], items: PublishItem[]): Promise<void> {
    const at = new Date().toISOString();
    await new PublishRecords(this.opts.paths.store).add(
      outcomes.map((o) => {
        const item = items.find((i) => i.entry.key === o.key)!;
        return { target: this.spec, kind: this.kind, key: o.key, family: item.entry.family, kernelRelease: o.kernelRelease, sha256: item.entry.sha256, ref: o.ref, signer: this.opts.gpgKey ?? '', bytesSent: o.bytesSent, publishedAt: at, ...proofField(item) };
      }),
    );
  }

  private async readIndex(): Promise<DirIndex | undefined> {
    const file = path.join(this.root, INDEX);
    let text: string;
    try {
      const st = await fs.lstat(file);
      if (st.isSymbolicLink()) throw new PublishRefusedError(`${file} is a symlink; nbdforge never writes one: move it away, or pass --prune-foreign`);
      if (st.size > MAX_INDEX_BYTES) throw new PublishRefusedError(`${file}: ${st.size} bytes, too large for an index; publish to an empty directory`);
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      return parseIndex(text, file);
    } catch (err) {
      throw new PublishRefusedError(`${(err as Error).message}; this directory holds something else: publish to an empty directory or one nbdforge wrote (or pass --prune-foreign)`);
    }
  }
}
