import { type IndexEntry, validateIndex } from '../artifacts/store-layout.ts';
import { parseManifest, type Manifest } from '../artifacts/manifest.ts';
import { redact } from '../util/redact.ts';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SourceError, type ArtifactSource, type TrustOptions } from './source-error.ts';
import { verifyDetached, normalizeFingerprint } from '../doors/gpg.ts';
import { sha256 } from '../util/hash.ts';
import { checkFresh, DEFAULT_STATE_DIR } from './serial-state.ts';
import { MAX_PROOF_BYTES, PROOF_FILE, ProofError, type ProofRecord, parseProof } from '../artifacts/proof-record.ts';
import { httpStream, netLimits, TransferEndedError, TransferWatch, type NetLimits, type NetReporter } from '../fetch/index.ts';

/** Bounds for what an http store may send before the caller knows better (real files are KBs). */
const MAX_INDEX = 16 * 1024 * 1024;
const MAX_MANIFEST = 1024 * 1024;

/**
 * A directory store published by any static web server: GET index.json, <dir>/manifest.json,
 * <dir>/<file>. Everything it serves is untrusted: every body is streamed under a size cap (a
 * module's is the size its manifest announces), every GET runs under the fetch door's bounds
 * (connect, idle, minimum rate, deadline) and a bound that ends it is named, and names are validated
 * before they become URLs. Credentials in the URL are used but never printed.
 */
export class HttpSource implements ArtifactSource {
  readonly location: string;
  private readonly url: string;
  private readonly base: string;
  private readonly limits: NetLimits;
  /** manifest.json sha256 per artifact key, from a published directory's (verified) index. */
  private readonly manifestSha = new Map<string, string>();
  /** proof.json sha256 per artifact key, from a published directory's (verified) index. */
  private readonly proofSha = new Map<string, string>();
  constructor(
    url: string,
    private readonly trust: TrustOptions = {},
    limits: Partial<NetLimits> = {},
    private readonly report?: NetReporter,
  ) {
    this.url = url;
    this.base = url.endsWith('/') ? url : `${url}/`;
    this.location = redact(url);
    this.limits = { ...netLimits(), ...limits };
  }

  private shown(rel: string): string {
    return redact(new URL(rel, this.base).toString());
  }

  private async get(rel: string, max: number, exact?: number): Promise<Buffer> {
    const url = new URL(rel, this.base);
    const shown = redact(url.toString());
    const fail = (why: string, cause?: unknown) => new SourceError(`GET ${shown}: ${why}`, cause ? { cause } : undefined);
    const chunks: Buffer[] = [];
    let received = 0;
    let status = 0;
    const watch = new TransferWatch({ url: shown, limits: this.limits, report: this.report, expected: exact, cap: max });
    try {
      const res = await httpStream(
        url,
        { retry: { limit: 2, methods: ['GET'], statusCodes: [408, 429, 500, 502, 503, 504], errorCodes: ['ECONNRESET', 'EPIPE'] }, decompress: true },
        watch,
      );
      const stream = res.body;
      status = res.status;
      if (status !== 200) stream.destroy(fail(`HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`));
      const announced = Number(res.headers['content-length']);
      if (Number.isFinite(announced) && announced > max) stream.destroy(fail(`the server announces ${announced} bytes, more than the ${max} allowed here`));
      else if (exact === undefined && Number.isFinite(announced)) watch.expect(announced);
      for await (const chunk of stream) {
        received += (chunk as Buffer).length;
        if (received > max) {
          stream.destroy();
          throw fail(`more than the ${max} bytes allowed${exact !== undefined ? ' (the size its manifest announces)' : ''}; refusing the rest`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (caught) {
      const err = watch.explain(caught);
      if (err instanceof SourceError) throw err;
      if (err instanceof TransferEndedError) throw fail(err.reason);
      const e = err as NodeJS.ErrnoException & { timings?: unknown; event?: string };
      if (e.code === 'ERR_TOO_MANY_REDIRECTS') throw fail('redirected too many times (a redirect loop?); check the URL');
      if (status === 200) throw fail(`connection dropped after ${received} bytes (${e.code ?? e.message})`, err);
      throw fail(`${e.code ? `${e.code}: ` : ''}${e.message}`, err);
    } finally {
      watch.close();
    }
    const body = Buffer.concat(chunks);
    if (exact !== undefined && body.length !== exact) throw fail(`${body.length} bytes, the manifest announces ${exact}`);
    return body;
  }

  private async json(rel: string, max: number, body?: Buffer): Promise<unknown> {
    body ??= await this.get(rel, max);
    try {
      return JSON.parse(body.toString('utf8'));
    } catch (err) {
      const head = body.subarray(0, 64).toString('utf8').trimStart();
      const looks = head.startsWith('<') ? 'an HTML page, not JSON (is the URL the store root?)' : body.length === 0 ? 'an empty body' : `not JSON (${(err as Error).message}; truncated?)`;
      throw new SourceError(`GET ${redact(new URL(rel, this.base).toString())}: ${looks}`);
    }
  }

  async list(): Promise<IndexEntry[]> {
    const raw = await this.get('index.json', MAX_INDEX);
    await this.verifyIndex(raw);
    const value = await this.json('index.json', MAX_INDEX, raw);
    // A published directory (the format field is inside what was verified) must be fresh.
    if ((value as { format?: unknown })?.format === 'nbdforge-dir') {
      const t = this.trust;
      await checkFresh(value as object, this.url, this.shown('index.json'), { stateDir: t.stateDir ?? DEFAULT_STATE_DIR, now: t.now?.() ?? new Date(), warn: t.warn });
    }
    try {
      const artifacts = validateIndex(value, this.shown('index.json')).artifacts;
      // A published directory's index pins each manifest by sha256 (nbdforge publish --to dir:).
      for (const a of (value as { artifacts: Array<{ key: string; manifestSha256?: unknown }> }).artifacts)
        if (typeof a.manifestSha256 === 'string' && /^[0-9a-f]{64}$/.test(a.manifestSha256)) this.manifestSha.set(a.key, a.manifestSha256);
      for (const a of (value as { artifacts: Array<{ key: string; proofSha256?: unknown }> }).artifacts)
        if (typeof a.proofSha256 === 'string' && /^[0-9a-f]{64}$/.test(a.proofSha256)) this.proofSha.set(a.key, a.proofSha256);
      return artifacts;
    } catch (err) {
      throw new SourceError((err as Error).message);
    }
  }

  /** The index vouches for every other file (sha256 of module and manifest), so it alone is signed. */
  private async verifyIndex(raw: Buffer): Promise<void> {
    const url = this.shown('index.json');
    const t = this.trust;
    if (t.indexSha256) {
      if (sha256(raw) !== t.indexSha256.toLowerCase()) throw new SourceError(`${url}: sha256 ${sha256(raw)}, not the pinned ${t.indexSha256}; refused`);
      return;
    }
    if (t.fingerprint) {
      const fpr = normalizeFingerprint(t.fingerprint);
      const signature = await this.get('index.json.sig', 64 * 1024).catch((err: Error) => {
        throw new SourceError(`${url} is not signed (${err.message}); refused`);
      });
      const key = await this.get('signing-key.gpg', 1024 * 1024);
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-key-'));
      try {
        await fs.writeFile(path.join(dir, 'key.gpg'), key);
        await verifyDetached({ data: raw, signature, keyFile: path.join(dir, 'key.gpg'), fingerprint: fpr, what: url }).catch((err: Error) => {
          throw new SourceError(err.message, { cause: err });
        });
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
      return;
    }
    if (t.insecureNoSignature) {
      t.warn?.(`WARNING: NBDFORGE_INSECURE_NO_SIGNATURE=1: ${url} is NOT verified; whoever controls that server decides what this host loads`);
      return;
    }
    throw new SourceError(
      `refusing the unverified index ${url}: pass --fingerprint FPR (the key nbdforge publish --gpg-key signed with) or --index-sha256 HEX,` +
        ` or set NBDFORGE_INSECURE_NO_SIGNATURE=1 to take it unverified`,
    );
  }

  async manifest(entry: IndexEntry): Promise<Manifest> {
    const rel = `${encodePath(entry.dir)}/manifest.json`;
    const raw = await this.get(rel, MAX_MANIFEST);
    const want = this.manifestSha.get(entry.key);
    if (want !== undefined && sha256(raw) !== want) throw new SourceError(`${this.shown(rel)}: sha256 ${sha256(raw)}, the index says ${want}; refused`);
    try {
      return parseManifest(await this.json(rel, MAX_MANIFEST, raw), this.shown(rel));
    } catch (err) {
      if (err instanceof SourceError) throw err;
      throw new SourceError((err as Error).message);
    }
  }

  /** proof.json beside the module: the sha256 the (pinned) manifest names, and the index's where it names one. */
  async proof(entry: IndexEntry, manifest: Manifest): Promise<ProofRecord | undefined> {
    const indexed = this.proofSha.get(entry.key);
    if (!manifest.proof) {
      if (indexed) throw new ProofError(`${this.shown(`${encodePath(entry.dir)}/manifest.json`)}: names no proof, the index names one`);
      return undefined;
    }
    const rel = `${encodePath(entry.dir)}/${PROOF_FILE}`;
    const raw = await this.get(rel, MAX_PROOF_BYTES);
    const got = sha256(raw);
    if (got !== manifest.proof.sha256) throw new ProofError(`${this.shown(rel)}: sha256 ${got}, the manifest says ${manifest.proof.sha256} (not the proof that was published)`);
    if (indexed !== undefined && got !== indexed) throw new ProofError(`${this.shown(rel)}: sha256 ${got}, the index says ${indexed}`);
    return parseProof(raw.toString('utf8'), this.shown(rel));
  }

  async bytes(entry: IndexEntry, size: number): Promise<Uint8Array> {
    return new Uint8Array(await this.get(`${encodePath(entry.dir)}/${encodeURIComponent(entry.file)}`, size, size));
  }
}

function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/');
}
