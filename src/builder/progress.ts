/** A matrix's events (builder/matrix.ts) and prove's (prove/run.ts) both fit this shape. */
export type ProgressEvent =
  | { type: 'stage'; kernelRelease: string; stage: string }
  | { type: 'done'; result: { kernelRelease: string; status: string; error?: Error } };

interface Row {
  kernel: string;
  state: string;
  started: number;
  ended?: number;
}

/**
 * Per-kernel progress. On a TTY: a header with the n/N done count and one live line per kernel
 * (elapsed, stage), redrawn in place; log lines are printed above the live block (never overwritten
 * by it), and stop() erases the block, so the final table replaces it with no stale rows.
 * Otherwise: one plain line per stage change with the count, for logs and CI.
 */
export class ProgressView {
  private rows = new Map<string, Row>();
  private drawn = 0;
  private timer?: NodeJS.Timeout;
  private done = 0;

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

  event(e: ProgressEvent): void {
    const k = e.type === 'stage' ? e.kernelRelease : e.result.kernelRelease;
    const row = this.rows.get(k)!;
    if (e.type === 'stage') {
      if (row.state === 'queued') row.started = Date.now();
      row.state = e.stage;
    } else {
      row.ended = Date.now();
      this.done++;
      row.state = e.result.status === 'failed' ? `FAILED: ${firstLine(e.result.error)}` : e.result.status;
    }
    if (this.live) this.draw();
    else this.out.write(`[${this.done}/${this.rows.size}] ${k}  ${row.state}  ${secs(row)}\n`);
  }

  /** A line of its own (a download, a repair): above the live block, which is drawn again below it. */
  log(line: string): void {
    if (!this.live) return void this.out.write(`${line}\n`);
    this.erase();
    this.out.write(`${line}\n`);
    this.draw();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.live) this.erase();
  }

  private erase(): void {
    if (!this.drawn) return;
    // up to the block's first line, then clear to the end of the screen
    this.out.write(`\x1b[${this.drawn}A\r\x1b[J`);
    this.drawn = 0;
  }

  private draw(): void {
    const width = Math.max(6, ...[...this.rows.keys()].map((k) => k.length));
    const cols = this.out.columns || 100;
    const head = `${'KERNEL'.padEnd(width)}  ${'TIME'.padStart(6)}  STAGE   (${this.done}/${this.rows.size} done)`;
    const fits = Math.max(4, (this.out.rows || 50) - 2);
    let rows = [...this.rows.values()];
    let more = '';
    if (rows.length + 1 > fits) {
      // a matrix taller than the terminal: the running and failed kernels, then how many wait or are done
      const shown = rows.filter((r) => r.state !== 'queued' && (r.ended === undefined || r.state.startsWith('FAILED'))).slice(0, fits - 2);
      const queued = rows.filter((r) => r.state === 'queued').length;
      more = `${' '.repeat(width)}          ${queued} queued, ${this.done} done`;
      rows = shown;
    }
    const body = rows.map((r) => `${r.kernel.padEnd(width)}  ${secs(r).padStart(6)}  ${r.state}`);
    const lines = [head, ...body, ...(more ? [more] : [])].map((l) => l.slice(0, cols - 1));
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
