import type { DownloadProgress } from './net-types.ts';

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function formatEta(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** State of a set of downloads, fed by DownloadProgress events; renders to one status line. */
export class ProgressTracker {
  private files = new Map<string, { received: number; total?: number; resumedFrom: number; done: boolean }>();
  private samples: Array<{ t: number; bytes: number }> = [];
  /** Bytes that moved over the wire in this run (resumed prefixes and cache hits excluded). */
  private moved = 0;

  constructor(private readonly now: () => number = Date.now, private readonly windowMs = 5000) {}

  update(p: DownloadProgress): void {
    const prev = this.files.get(p.url);
    if (!p.cached) this.moved += Math.max(0, p.received - Math.max(prev?.received ?? 0, p.resumedFrom));
    this.files.set(p.url, { received: p.received, total: p.total, resumedFrom: p.resumedFrom, done: p.done });
    const t = this.now();
    this.samples.push({ t, bytes: this.moved });
    while (this.samples.length > 2 && this.samples[0].t < t - this.windowMs) this.samples.shift();
  }

  /** Bytes per second over the sliding window. */
  rate(): number {
    if (this.samples.length < 2) return 0;
    const a = this.samples[0];
    const b = this.samples[this.samples.length - 1];
    return b.t > a.t ? ((b.bytes - a.bytes) * 1000) / (b.t - a.t) : 0;
  }

  line(): string {
    let received = 0;
    let total = 0;
    let known = true;
    let done = 0;
    for (const f of this.files.values()) {
      received += f.received;
      if (f.total === undefined) known = false;
      else total += f.total;
      if (f.done) done++;
    }
    const rate = this.rate();
    const eta = known && rate > 0 ? (total - received) / rate : undefined;
    const size = known ? `${formatBytes(received)} / ${formatBytes(total)}` : formatBytes(received);
    return `${done}/${this.files.size} files  ${size}  ${formatBytes(Math.round(rate))}/s  ETA ${formatEta(eta)}`;
  }
}

/**
 * A renderer for a terminal: rewrites one line at most every `intervalMs`. On anything that is not
 * a TTY it stays silent (logs and CI get the command's own summary instead).
 */
export function createProgressRenderer(out: NodeJS.WritableStream & { isTTY?: boolean }, o: { intervalMs?: number; now?: () => number } = {}) {
  const tracker = new ProgressTracker(o.now);
  const interval = o.intervalMs ?? 200;
  let last = 0;
  let drawn = false;
  const draw = () => {
    out.write(`\r\x1b[2K${tracker.line()}`);
    drawn = true;
  };
  return {
    tracker,
    onProgress(p: DownloadProgress): void {
      tracker.update(p);
      if (!out.isTTY) return;
      const t = (o.now ?? Date.now)();
      if (p.done || t - last >= interval) {
        last = t;
        draw();
      }
    },
    /** Leave the final line in place and move to the next one. */
    finish(): void {
      if (!out.isTTY) return;
      if (!drawn) draw();
      out.write('\n');
    },
  };
}
