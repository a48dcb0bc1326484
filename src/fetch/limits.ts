/**
 * The bounds every network transfer nbdforge makes runs under, in one place. A transfer ends when
 * it cannot connect in time, when nothing arrives for a while, when it averages less than a minimum
 * rate over a window, or at a total deadline derived from the bytes it expects at that rate (never
 * less than a floor). A large RPM on a slow but steady mirror completes; a drip or a stall ends.
 */
import { NbdforgeError } from '../errors.ts';

export interface NetLimits {
  /** TCP (and TLS) connect. */
  connectMs: number;
  /** No byte at all (headers or body) for this long. */
  idleMs: number;
  /** Bytes per second a transfer must average over rateWindowMs... */
  minRate: number;
  rateWindowMs: number;
  /** ...and the total deadline of one transfer, retries included: max(floorMs, expected / minRate). */
  floorMs: number;
  /** One "waiting for" line on stderr after this long below the minimum rate. */
  noticeMs: number;
}

export const DEFAULT_NET_LIMITS: Readonly<NetLimits> = Object.freeze({
  connectMs: 15_000,
  idleMs: 30_000,
  minRate: 10 * 1024,
  rateWindowMs: 30_000,
  floorMs: 60_000,
  noticeMs: 5_000,
});

/** The environment variable that sets --timeout for every command. */
export const TIMEOUT_ENV = 'NBDFORGE_TIMEOUT';

/** The help text of --timeout, shared by every command that fetches; `col` is where descriptions start. */
export function timeoutHelp(col: number): string {
  const d = DEFAULT_NET_LIMITS;
  const pad = ' '.repeat(col);
  return [
    `${'  --timeout S'.padEnd(col)}bound each download to S seconds (default ${d.floorMs / 1000}, env ${TIMEOUT_ENV});`,
    `${pad}a larger file gets longer while it averages ${d.minRate / 1024} KiB/s over ${d.rateWindowMs / 1000} s;`,
    `${pad}connect (${d.connectMs / 1000} s), idle (${d.idleMs / 1000} s) and that window never exceed S`,
  ].join('\n');
}

/**
 * `--timeout S` (or NBDFORGE_TIMEOUT): S seconds is the floor of every total deadline, and no other
 * bound waits longer than S. The "waiting" line comes at 5 s, or halfway through a shorter bound.
 */
export function netLimits(timeoutSeconds?: number): NetLimits {
  const d = DEFAULT_NET_LIMITS;
  if (timeoutSeconds === undefined) return { ...d };
  const t = Math.round(timeoutSeconds * 1000);
  return {
    connectMs: Math.min(d.connectMs, t),
    idleMs: Math.min(d.idleMs, t),
    minRate: d.minRate,
    rateWindowMs: Math.min(d.rateWindowMs, t),
    floorMs: t,
    noticeMs: Math.min(d.noticeMs, Math.max(500, Math.round(t / 2))),
  };
}

export class TimeoutValueError extends NbdforgeError {
  override name = 'TimeoutValueError';
  override readonly exitCode = 2;
}

/** The value of --timeout, else NBDFORGE_TIMEOUT, else the defaults. Refuses what is not a positive number of seconds. */
export function timeoutFrom(flag: string | undefined, env: NodeJS.ProcessEnv): NetLimits {
  const raw = flag ?? (env[TIMEOUT_ENV] || undefined);
  if (raw === undefined) return netLimits();
  const from = flag !== undefined ? '--timeout' : TIMEOUT_ENV;
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || Number(raw) <= 0 || Number(raw) > 7 * 24 * 3600)
    throw new TimeoutValueError(`${from} ${JSON.stringify(raw)}: give a number of seconds, e.g. 120`);
  return netLimits(Number(raw));
}

/** Total deadline of a transfer expecting `bytes` (undefined: unknown, bounded by its size cap). */
export function deadlineMs(l: NetLimits, bytes?: number): number {
  return Math.max(l.floorMs, bytes === undefined || !Number.isFinite(bytes) ? 0 : Math.ceil((bytes / l.minRate) * 1000));
}
