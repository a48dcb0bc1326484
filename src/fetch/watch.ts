/** The watch that ends a transfer at its bounds: see limits.ts for the rules, net-types.ts for the words. */
import { TransferEndedError, type Bound, type NetOptions } from './net-types.ts';
import { deadlineMs, TIMEOUT_ENV, type NetLimits } from './limits.ts';
import { formatBytes, formatEta } from './progress.ts';

export interface WatchOptions extends NetOptions {
  url: string;
  /** Bytes expected, when known: sets the total deadline and is shown. */
  expected?: number;
  /** Otherwise the most that will be accepted: bounds the deadline, not shown. */
  cap?: number;
  signal?: AbortSignal;
  /** What the bytes are, for messages: "the body" by default. */
  what?: string;
}

const s = (ms: number) => `${+(ms / 1000).toFixed(1)} s`;
const rate = (l: NetLimits) => `${formatBytes(l.minRate)}/s`;
const HINT = `try another mirror or server, or allow more time with --timeout SECONDS (or ${TIMEOUT_ENV})`;

/**
 * The clock of one transfer (all its attempts). Each attempt gets its own AbortSignal; the watch
 * aborts it when a bound is crossed and remembers why, so the caller turns whatever got threw into
 * a message that names the bound. Idle ends only the attempt (a retry can resume); the rate rule and
 * the deadline end the transfer.
 */
export class TransferWatch {
  private readonly t0 = Date.now();
  private deadline: number;
  private readonly outer = new AbortController();
  private attemptAc?: AbortController;
  private attemptAt = this.t0;
  /** When this attempt's headers came (the rate rule measures the body), else its start. */
  private bodyAt = this.t0;
  private lastByte = this.t0;
  /** When this attempt's first body bytes came: the rate window starts there, not at the headers. */
  private firstBody?: number;
  private total = 0;
  private samples: Array<{ t: number; n: number }> = [];
  private noticed = false;
  private expected?: number;
  private showing = false;
  private headers = false;
  private readonly timer: NodeJS.Timeout;
  private unlisten?: () => void;
  /** Set when a bound ended the transfer (or the current attempt, for idle). */
  ended?: TransferEndedError;

  constructor(private readonly o: WatchOptions) {
    this.expected = o.expected;
    this.deadline = this.t0 + deadlineMs(o.limits, o.expected ?? o.cap);
    const onAbort = () => this.outer.abort(o.signal!.reason);
    if (o.signal?.aborted) onAbort();
    else {
      o.signal?.addEventListener('abort', onAbort, { once: true });
      // a command's one signal outlives many transfers: each takes its listener away at close()
      this.unlisten = () => o.signal?.removeEventListener('abort', onAbort);
    }
    this.timer = setInterval(() => this.tick(), Math.max(50, Math.min(1000, Math.round(o.limits.floorMs / 20))));
    this.timer.unref();
  }

  /** Aborted at the deadline, by the rate rule or by the caller's signal: backoff sleeps use it. */
  get signal(): AbortSignal {
    return this.outer.signal;
  }

  get limits(): NetLimits {
    return this.o.limits;
  }

  get received(): number {
    return this.total;
  }

  /** A new attempt: its own signal; the idle and rate clocks restart, the deadline does not. */
  attempt(): AbortSignal {
    if (this.ended && !this.ended.retryable) throw this.ended;
    this.ended = undefined;
    this.attemptAc = new AbortController();
    const ac = this.attemptAc;
    if (this.outer.signal.aborted) ac.abort(this.outer.signal.reason);
    else this.outer.signal.addEventListener('abort', () => ac.abort(this.outer.signal.reason), { once: true });
    this.attemptAt = this.lastByte = this.bodyAt = Date.now();
    this.firstBody = undefined;
    this.headers = false;
    this.samples = [{ t: this.attemptAt, n: this.total }];
    return ac.signal;
  }

  /** The size became known (Content-Length, within the cap): the deadline follows it at the minimum rate. */
  expect(bytes: number | undefined): void {
    if (bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return;
    this.expected = bytes;
    this.deadline = this.t0 + deadlineMs(this.o.limits, bytes);
  }

  /** Response headers arrived: progress, and from now on the wait is for the body (the rate window starts here). */
  gotHeaders(): void {
    this.headers = true;
    this.lastByte = this.bodyAt = Date.now();
    this.firstBody = undefined;
  }

  /** `n` more bytes moved (down or up). */
  bytes(n: number): void {
    if (n <= 0) return;
    this.total += n;
    const t = Date.now();
    this.lastByte = t;
    this.firstBody ??= t;
    this.samples.push({ t, n: this.total });
    const keep = t - Math.max(this.o.limits.rateWindowMs, this.o.limits.noticeMs) - 1000;
    while (this.samples.length > 2 && this.samples[1].t < keep) this.samples.shift();
  }

  /** Bytes received since time `since` (within this attempt). */
  private since(since: number): number {
    let before = this.samples[0]?.n ?? this.total;
    for (const x of this.samples) if (x.t <= since) before = x.n;
    return this.total - before;
  }

  private tick(): void {
    if (this.ended && !this.ended.retryable) return;
    const l = this.o.limits;
    const t = Date.now();
    const inAttempt = t - this.attemptAt;
    if (t >= this.deadline) return this.end('deadline');
    // Between attempts (after an idle end, during a backoff) only the deadline runs.
    if (!this.attemptAc || this.attemptAc.signal.aborted) return;
    if (t - this.lastByte >= l.idleMs) return this.end('idle');
    // A drip (some bytes, too few): a window with none at all is the idle rule's to name. The window
    // starts at the first body bytes, so a server that sent a few bytes and stopped is named by the
    // idle rule (checked first) whatever the load, not by the rate rule a moment earlier.
    const inWindow = this.since(t - l.rateWindowMs);
    const from = this.firstBody ?? this.bodyAt;
    if (t - from >= l.rateWindowMs && inWindow > 0 && inWindow < (l.minRate * l.rateWindowMs) / 1000) return this.end('rate');
    if (!this.noticed && inAttempt >= l.noticeMs && this.since(t - l.noticeMs) < (l.minRate * l.noticeMs) / 1000) {
      this.noticed = true;
      this.o.report?.waiting(this.waitingLine(t));
    }
    if (this.o.report?.progress && t - this.t0 >= 3000) {
      this.showing = true;
      this.o.report.progress(this.progressLine(t));
    }
  }

  private of(): string {
    return this.expected !== undefined ? ` of ${formatBytes(this.expected)}` : '';
  }

  waitingLine(t = Date.now()): string {
    const l = this.o.limits;
    return (
      `waiting for ${this.o.url}: ${formatBytes(this.total)}${this.of()} in ${s(t - this.t0)}; ` +
      `it ends if nothing arrives for ${s(l.idleMs)}, if it averages under ${rate(l)} over ${s(l.rateWindowMs)}, or at ${s(this.deadline - this.t0)} in all`
    );
  }

  private progressLine(t: number): string {
    const window = Math.min(5000, t - this.attemptAt);
    const r = window > 0 ? (this.since(t - window) * 1000) / window : 0;
    const left = this.expected !== undefined && r > 0 ? (this.expected - this.total) / r : undefined;
    return `${this.o.url}  ${formatBytes(this.total)}${this.of()}  ${formatBytes(Math.round(r))}/s  ETA ${formatEta(left)}`;
  }

  private end(bound: Bound): void {
    const l = this.o.limits;
    const t = Date.now();
    const got = `${formatBytes(this.total)}${this.of()} received in ${s(t - this.t0)}`;
    const what = this.o.what ?? (this.headers ? 'the body' : 'the headers');
    const why: Record<Bound, string> = {
      connect: `no connection within ${s(l.connectMs)}`,
      idle: `timed out waiting for ${what}: nothing arrived for ${s(l.idleMs)} (${got})`,
      rate: `too slow: ${got}, under the minimum of ${rate(l)} averaged over ${s(l.rateWindowMs)}`,
      deadline: `not finished at its deadline of ${s(this.deadline - this.t0)} (${got}; a transfer gets at least ${s(l.floorMs)}, more for a larger file at ${rate(l)})`,
    };
    // Only a body that stopped is worth another try (it resumes) while the deadline lasts: a server
    // that never answers, one out of reach, a drip or a deadline would only do the same again.
    const retryable = bound === 'idle' && this.headers;
    this.ended = new TransferEndedError(`${why[bound]}; ${HINT}`, this.o.url, bound, this.total, t - this.t0, retryable);
    if (bound === 'idle' || bound === 'connect') this.attemptAc?.abort(this.ended);
    else this.outer.abort(this.ended);
  }

  /** What to throw for `err` (anything got or a stream threw): the bound that ended it, if one did. */
  explain(err: unknown): unknown {
    if (this.ended) return this.ended;
    const e = err as { name?: string; event?: string; code?: string };
    if (e?.name === 'TimeoutError' && /lookup|connect|secureConnect/.test(e.event ?? '')) {
      this.end('connect');
      return this.ended;
    }
    return err;
  }

  close(): void {
    clearInterval(this.timer);
    this.unlisten?.();
    this.unlisten = undefined;
    if (this.showing) this.o.report?.progress?.(undefined);
  }
}

/** got's own timeouts under a watch: only the connect phase (the watch does the rest). */
export function connectTimeouts(l: NetLimits): { lookup: number; connect: number; secureConnect: number } {
  return { lookup: l.connectMs, connect: l.connectMs, secureConnect: l.connectMs };
}
