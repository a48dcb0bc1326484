/**
 * Misbehaving http servers on 127.0.0.1, for the fetch door's bounds (issue 25): what a throttled
 * mirror, a half-dead proxy or a hostile store looks like. One server, the behaviour chosen per
 * request (by the first path segment, or one mode for every path when a registry is played):
 *   drip    headers announcing `length` bytes, then one byte every `dripMs`
 *   stall   headers, 10 bytes, then nothing
 *   silent  the connection is accepted and never answered
 *   loop    a redirect to itself, for ever
 *   steady  `body` at `rate` bytes per second, in tenths of a second (slow but above the minimum)
 * Also `runCli`: the real CLI, spawned asynchronously (a spawnSync would stall this very server).
 */
import http from 'node:http';
import path from 'node:path';
import { spawn } from 'node:child_process';

export type Mode = 'drip' | 'stall' | 'silent' | 'loop' | 'steady';

export interface DripOptions {
  /** One mode for every path (a registry's /v2/... paths), else the first path segment decides. */
  mode?: Mode;
  dripMs?: number;
  /** Announced in Content-Length by drip and stall (default 1 MiB); null announces nothing (chunked). */
  length?: number | null;
  body?: Buffer;
  rate?: number;
  /** Requests whose first segment is no mode. */
  fallback?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

export interface DripServer {
  base: string;
  port: number;
  /** Every request's method and path, in order. */
  seen: string[];
  /** When each request arrived (Date.now()), in the same order. */
  seenAt: number[];
  close(): Promise<void>;
}

const MODES = new Set<Mode>(['drip', 'stall', 'silent', 'loop', 'steady']);

export async function startDripServer(o: DripOptions = {}): Promise<DripServer> {
  const timers = new Set<NodeJS.Timeout>();
  const seen: string[] = [];
  const seenAt: number[] = [];
  const every = (ms: number, fn: () => void) => {
    const t = setInterval(fn, ms);
    timers.add(t);
    return () => {
      clearInterval(t);
      timers.delete(t);
    };
  };
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    seenAt.push(Date.now());
    const url = new URL(req.url!, 'http://x');
    const first = url.pathname.split('/')[1] as Mode;
    const mode = o.mode ?? (MODES.has(first) ? first : undefined);
    if (!mode) return o.fallback ? o.fallback(req, res) : void res.writeHead(404).end('not found');
    if (mode === 'silent') return;
    if (mode === 'loop') {
      const n = Number(url.searchParams.get('n') ?? 0) + 1;
      return void res.writeHead(302, { location: `${url.pathname}?n=${n}` }).end();
    }
    const announce = o.length === null ? {} : { 'content-length': String(o.length ?? 1 << 20) };
    if (mode === 'stall') {
      res.writeHead(200, announce);
      res.write(Buffer.alloc(10, 'x'));
      return;
    }
    if (mode === 'drip') {
      res.writeHead(200, announce);
      const stop = every(o.dripMs ?? 1000, () => res.write('x'));
      res.on('close', stop);
      return;
    }
    const body = o.body ?? Buffer.alloc(1 << 20, 'y');
    const step = Math.max(1, Math.round((o.rate ?? 64 * 1024) / 10));
    res.writeHead(200, { 'content-length': String(body.length) });
    let at = 0;
    const stop = every(100, () => {
      res.write(body.subarray(at, at + step));
      at += step;
      if (at >= body.length) {
        stop();
        res.end();
      }
    });
    res.on('close', stop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    seen,
    seenAt,
    async close() {
      for (const t of timers) clearInterval(t);
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Date.now() at the spawn and at the exit. */
  startedAt: number;
  endedAt: number;
}

/** The real CLI (bin/nbdforge.js), without blocking this process's event loop. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(path.resolve('bin/nbdforge.js'), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (status) => {
      const endedAt = Date.now();
      resolve({ status, stdout, stderr, ms: endedAt - t0, startedAt: t0, endedAt });
    });
  });
}
