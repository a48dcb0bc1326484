/**
 * The one door to a registry: the fetch door's httpBuffer with the distribution API's auth dance (401 -> Basic or a Bearer
 * token), bounded responses, retries for resets and 5xx, and a count of every body byte sent.
 * Everything it throws is a RegistryError naming the registry, with credentials scrubbed.
 */
import { backoff, type RetryPolicy } from '../../fetch/backoff.ts';
import { httpBuffer, netLimits, TransferEndedError, TransferWatch, type Method, type NetOptions } from '../../fetch/index.ts';
import { basicHeader, credentialsFor, parseChallenge, type Credentials } from './auth.ts';
import { RegistryError, redact } from './errors.ts';
import { baseUrl, isLoopback, type RegistryRef } from './reference.ts';

export interface ClientOptions {
  insecure?: boolean;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  retry?: RetryPolicy;
  /** The fetch door's bounds and waiting line (default: its defaults, silent). */
  net?: NetOptions;
}

export interface SendOptions {
  body?: Buffer;
  headers?: Record<string, string>;
  /** Largest response body accepted (default 4 MiB: manifests, configs, JSON). */
  maxBytes?: number;
  /** Network failures and 5xx answers retried in place (0 for requests that are not idempotent). */
  retries?: number;
  /** Response bytes expected (a blob's descriptor size): the deadline follows it instead of maxBytes. */
  expectedBytes?: number;
}

export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  url: string;
}

const RETRYABLE = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'EAI_AGAIN', 'ERR_STREAM_PREMATURE_CLOSE', 'ECONNABORTED']);

export class RegistryClient {
  readonly base: string;
  /** Request body bytes put on the wire, retries included. */
  bytesSent = 0;
  private authorization?: string;
  private readonly creds?: Credentials;
  private readonly policy: RetryPolicy;

  constructor(
    readonly ref: RegistryRef,
    private readonly opts: ClientOptions,
  ) {
    this.base = baseUrl(ref, opts.insecure);
    this.creds = credentialsFor(ref.registry, opts.env);
    this.policy = opts.retry ?? { retries: 4, baseDelayMs: 250, maxDelayMs: 4000 };
  }

  /** "oci://host:port/repo", the name every message uses. */
  get name(): string {
    return `oci://${this.ref.registry}/${this.ref.repository}`;
  }

  fail(what: string, status?: number, cause?: unknown): never {
    throw new RegistryError(redact(`${this.name}: ${what}`, [this.creds?.password]), status, { cause });
  }

  /** `path` is relative to /v2/<repo>/ unless it starts with "/" or is an absolute URL. */
  url(p: string): string {
    if (/^https?:\/\//.test(p)) return p;
    return p.startsWith('/') ? `${this.base}${p}` : `${this.base}/v2/${this.ref.repository}/${p}`;
  }

  async send(method: Method, p: string, o: SendOptions = {}): Promise<RegistryResponse> {
    const url = this.url(p);
    if (new URL(url).origin !== new URL(this.base).origin) this.fail(`refusing to follow the registry to another origin (${new URL(url).origin})`);
    const retries = o.retries ?? this.policy.retries;
    const max = o.maxBytes ?? 4 << 20;
    const limits = this.opts.net?.limits ?? netLimits();
    // One clock for the request and its retries: the body going up and the answer coming down.
    const watch = new TransferWatch({
      url: `${method} ${redact(url, [this.creds?.password])}`,
      limits,
      report: this.opts.net?.report,
      expected: o.expectedBytes === undefined ? undefined : (o.body?.length ?? 0) + o.expectedBytes,
      cap: (o.body?.length ?? 0) + max,
      signal: this.opts.signal,
    });
    try {
      return await this.attempts(method, url, o, { retries, max, watch });
    } finally {
      watch.close();
    }
  }

  private async attempts(method: Method, url: string, o: SendOptions, a: { retries: number; max: number; watch: TransferWatch }): Promise<RegistryResponse> {
    const { retries, max, watch } = a;
    let failures = 0;
    let authTried = false;
    const wait = async (): Promise<void> => {
      await backoff(++failures, this.policy, watch.signal).catch((err: unknown) => {
        throw watch.ended ?? err;
      });
    };
    for (;;) {
      let res;
      try {
        if (o.body) this.bytesSent += o.body.length;
        res = await httpBuffer(
          url,
          {
            method,
            body: o.body,
            headers: { ...o.headers, ...(this.authorization ? { authorization: this.authorization } : {}) },
            followRedirect: method === 'GET' || method === 'HEAD',
            maxBytes: max,
          },
          watch,
        );
      } catch (caught) {
        const err = watch.explain(caught);
        if (this.opts.signal?.aborted) throw caught;
        const code = (err as NodeJS.ErrnoException).code ?? '';
        const again = err instanceof TransferEndedError ? err.retryable : RETRYABLE.has(code);
        if (again && failures < retries) {
          await wait();
          continue;
        }
        if (err instanceof TransferEndedError) this.fail(`${method} ${url}: ${err.reason}`, undefined, err);
        const hint = code === 'ECONNREFUSED' ? ' (is the registry running? check the host and port)' : code === 'ERR_TOO_MANY_REDIRECTS' ? ' (a redirect loop?)' : '';
        this.fail(`${method} ${url} failed: ${(err as Error).message}${hint}`, undefined, err);
      }
      if (res.status === 401 && !authTried) {
        authTried = true;
        await this.authenticate(res.headers['www-authenticate']);
        continue;
      }
      if (res.status === 401) this.fail(`401 Unauthorized: the registry refused the credentials from ${this.creds?.source ?? '(none)'}`, 401);
      if ((res.status >= 500 || res.status === 429) && failures < retries) {
        await wait();
        continue;
      }
      return { status: res.status, headers: res.headers, body: res.body, url };
    }
  }

  /** Answer a 401 challenge once: Basic with the credentials, or a Bearer token from the realm. */
  private async authenticate(header: string | string[] | undefined): Promise<void> {
    const ch = parseChallenge(Array.isArray(header) ? header[0] : header);
    const howTo = `set NBDFORGE_REGISTRY_USERNAME and NBDFORGE_REGISTRY_PASSWORD, or run docker login ${this.ref.registry}`;
    if (!ch) this.fail(`401 Unauthorized without a usable challenge; ${howTo}`, 401);
    if (ch.scheme === 'basic') {
      if (!this.creds) this.fail(`401 Unauthorized: the registry wants credentials; ${howTo}`, 401);
      this.authorization = basicHeader(this.creds);
      return;
    }
    const realm = ch.params.realm;
    if (!realm) this.fail('401 with a Bearer challenge that names no realm', 401);
    const r = new URL(realm);
    if (r.protocol !== 'https:' && !(r.protocol === 'http:' && (isLoopback(r.hostname) || this.opts.insecure)))
      this.fail(`refusing to send credentials to the token service ${r.origin} over plain http`);
    if (ch.params.service) r.searchParams.set('service', ch.params.service);
    r.searchParams.set('scope', ch.params.scope ?? `repository:${this.ref.repository}:pull,push`);
    let token: string | undefined;
    const limits = this.opts.net?.limits ?? netLimits();
    const watch = new TransferWatch({ url: `GET ${r.origin}${r.pathname}`, limits, report: this.opts.net?.report, cap: 1 << 20, signal: this.opts.signal });
    try {
      const res = await httpBuffer(r, { headers: this.creds ? { authorization: basicHeader(this.creds) } : {}, maxBytes: 1 << 20, retry: { limit: 2 } }, watch);
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      const body = JSON.parse(res.body.toString('utf8')) as { token?: string; access_token?: string };
      token = body.token ?? body.access_token;
    } catch (err) {
      const why = err instanceof TransferEndedError ? err.reason : (err as Error).message;
      this.fail(`token service ${r.origin} refused: ${why}; ${howTo}`, 401, err);
    } finally {
      watch.close();
    }
    if (typeof token !== 'string' || !token) this.fail(`token service ${r.origin} returned no token`, 401);
    this.authorization = `Bearer ${token}`;
  }
}
