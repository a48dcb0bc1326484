import got from 'got';
import { type IndexEntry, validateIndex } from '../../artifacts/store-layout.ts';
import { parseManifest, type Manifest } from '../../artifacts/manifest.ts';
import { redact } from '../../util/redact.ts';
import { SourceError, type ArtifactSource } from './source-error.ts';

/** Bounds for what an http store may send before the caller knows better (real files are KBs). */
const MAX_INDEX = 16 * 1024 * 1024;
const MAX_MANIFEST = 1024 * 1024;
const TIMEOUTS = { connectMs: 15_000, headersMs: 30_000, idleMs: 30_000 };

/**
 * A directory store published by any static web server: GET index.json, <dir>/manifest.json,
 * <dir>/<file>. Everything it serves is untrusted: every body is streamed under a size cap (a
 * module's is the size its manifest announces), timeouts name the URL, and names are validated
 * before they become URLs. Credentials in the URL are used but never printed.
 */
export class HttpSource implements ArtifactSource {
  readonly location: string;
  private readonly base: string;
  private readonly t: typeof TIMEOUTS;
  constructor(url: string, timeouts: Partial<typeof TIMEOUTS> = {}) {
    this.base = url.endsWith('/') ? url : `${url}/`;
    this.location = redact(url);
    this.t = { ...TIMEOUTS, ...timeouts };
  }

  private async get(rel: string, max: number, exact?: number): Promise<Buffer> {
    const url = new URL(rel, this.base);
    const shown = redact(url.toString());
    const fail = (why: string, cause?: unknown) => new SourceError(`GET ${shown}: ${why}`, cause ? { cause } : undefined);
    const chunks: Buffer[] = [];
    let received = 0;
    let status = 0;
    try {
      const stream = got.stream(url, {
        retry: { limit: 2, methods: ['GET'], statusCodes: [408, 429, 500, 502, 503, 504], errorCodes: ['ECONNRESET', 'ETIMEDOUT', 'EPIPE'] },
        timeout: { connect: this.t.connectMs, response: this.t.headersMs, socket: this.t.idleMs },
        decompress: true,
        throwHttpErrors: false,
      });
      stream.on('response', (res: { statusCode: number; statusMessage?: string; headers: Record<string, string | undefined> }) => {
        status = res.statusCode;
        if (status !== 200) stream.destroy(fail(`HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`));
        const announced = Number(res.headers['content-length']);
        if (Number.isFinite(announced) && announced > max) stream.destroy(fail(`the server announces ${announced} bytes, more than the ${max} allowed here`));
      });
      for await (const chunk of stream) {
        received += (chunk as Buffer).length;
        if (received > max) {
          stream.destroy();
          throw fail(`more than the ${max} bytes allowed${exact !== undefined ? ' (the size its manifest announces)' : ''}; refusing the rest`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof SourceError) throw err;
      const e = err as NodeJS.ErrnoException & { timings?: unknown; event?: string };
      if (e.name === 'TimeoutError') {
        const phase = e.event === 'response' ? 'headers' : e.event === 'socket' ? 'body (no data)' : (e.event ?? 'response');
        throw fail(`timed out waiting for the ${phase} after ${received} bytes; is the server up and not throttled?`, err);
      }
      if (status === 200) throw fail(`connection dropped after ${received} bytes (${e.code ?? e.message})`, err);
      throw fail(`${e.code ? `${e.code}: ` : ''}${e.message}`, err);
    }
    const body = Buffer.concat(chunks);
    if (exact !== undefined && body.length !== exact) throw fail(`${body.length} bytes, the manifest announces ${exact}`);
    return body;
  }

  private async json(rel: string, max: number): Promise<unknown> {
    const body = await this.get(rel, max);
    try {
      return JSON.parse(body.toString('utf8'));
    } catch (err) {
      const head = body.subarray(0, 64).toString('utf8').trimStart();
      const looks = head.startsWith('<') ? 'an HTML page, not JSON (is the URL the store root?)' : body.length === 0 ? 'an empty body' : `not JSON (${(err as Error).message}; truncated?)`;
      throw new SourceError(`GET ${redact(new URL(rel, this.base).toString())}: ${looks}`);
    }
  }

  async list(): Promise<IndexEntry[]> {
    const where = redact(new URL('index.json', this.base).toString());
    try {
      return validateIndex(await this.json('index.json', MAX_INDEX), where).artifacts;
    } catch (err) {
      if (err instanceof SourceError) throw err;
      throw new SourceError((err as Error).message);
    }
  }

  async manifest(entry: IndexEntry): Promise<Manifest> {
    const rel = `${encodePath(entry.dir)}/manifest.json`;
    try {
      return parseManifest(await this.json(rel, MAX_MANIFEST), redact(new URL(rel, this.base).toString()));
    } catch (err) {
      if (err instanceof SourceError) throw err;
      throw new SourceError((err as Error).message);
    }
  }

  async bytes(entry: IndexEntry, size: number): Promise<Uint8Array> {
    return new Uint8Array(await this.get(`${encodePath(entry.dir)}/${encodeURIComponent(entry.file)}`, size, size));
  }
}

function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/');
}
