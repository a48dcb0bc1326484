import type { MatrixEvent } from './matrix.ts';

interface Row {
  kernel: string;
  state: string;
  started: number;
  ended?: number;
}

/**
 * Per-kernel progress. On a TTY: one live line per kernel (stage, elapsed), redrawn in place.
 * Otherwise: one plain line per stage change, for logs and CI.
 */
export class ProgressView {
  private rows = new Map<string, Row>();
  private drawn = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private out: NodeJS.WriteStream,
    kernels: string[],
    private live = !!out.isTTY,
  ) {
    const now = Date.now();
    for (const k of kernels) this.rows.set(k, { kernel: k, state: 'queued', started: now });
    if (this.live) {
      this.draw();
      this.timer = setInterval(() => this.draw(), 250);
      this.timer.unref();
    }
  }

  event(e: MatrixEvent): void {
    const k = e.type === 'stage' ? e.kernelRelease : e.result.kernelRelease;
    const row = this.rows.get(k)!;
    if (e.type === 'stage') {
      if (row.state === 'queued') row.started = Date.now();
      row.state = e.stage;
    } else {
      row.ended = Date.now();
      row.state = e.result.status === 'failed' ? `FAILED: ${firstLine(e.result.error)}` : e.result.status;
    }
    if (this.live) this.draw();
    else this.out.write(`${k}  ${row.state}  ${secs(row)}\n`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.live) this.draw();
  }

  private draw(): void {
    const width = Math.max(...[...this.rows.keys()].map((k) => k.length));
    const cols = this.out.columns || 100;
    const lines = [...this.rows.values()].map((r) => `${r.kernel.padEnd(width)}  ${secs(r).padStart(6)}  ${r.state}`.slice(0, cols - 1));
    if (this.drawn) this.out.write(`\x1b[${this.drawn}A`);
    for (const l of lines) this.out.write(`\x1b[2K${l}\n`);
    this.drawn = lines.length;
  }
}

function secs(r: Row): string {
  if (r.state === 'queued') return '';
  return `${(((r.ended ?? Date.now()) - r.started) / 1000).toFixed(1)}s`;
}

function firstLine(e?: Error): string {
  return (e?.message ?? 'unknown error').split('\n')[0];
}
