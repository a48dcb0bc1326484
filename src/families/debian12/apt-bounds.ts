import fs from 'node:fs/promises';
import { deadlineMs, netLimits, type NetLimits } from '../../fetch/index.ts';
import { ContainerError } from '../../docker/errors.ts';
import { NbdforgeError } from '../../errors.ts';

/** What an `apt-get update` of the builder's suites may fetch, for its deadline (first run: tens of MB). */
export const APT_UPDATE_BYTES = 64 * 1024 * 1024;

/**
 * apt inside the builder container runs under the fetch door's limits, in apt's own terms:
 * Acquire::http::Timeout (connect and idle, seconds), Acquire::Retries, and a deadline for the whole
 * run (`timeout` around apt-get: apt has no minimum rate, so a drip is ended by the deadline, the
 * bytes expected at the minimum rate, at least the floor). fetch.sh and catalog.sh read these.
 */
export function aptBoundsEnv(l: NetLimits = netLimits(), bytes?: number): Record<string, string> {
  return {
    APT_TIMEOUT: String(Math.max(1, Math.ceil(Math.max(l.connectMs, l.idleMs) / 1000))),
    APT_RETRIES: '2',
    APT_DEADLINE: String(Math.max(1, Math.ceil(deadlineMs(l, bytes) / 1000))),
  };
}

/** apt in the builder gave up (a bound, or the mirror): the script's own line names the packages and the mirror. */
export class AptFetchError extends NbdforgeError {
  override name = 'AptFetchError';
}

/** The script's "nbdforge: ..." line of a failed apt run, as the error to show; anything else unchanged. */
export function aptFailure(err: unknown): unknown {
  if (!(err instanceof ContainerError) || (err.status !== 124 && err.status !== 1)) return err;
  const line = err.logTail.split('\n').reverse().find((l) => l.includes('nbdforge: apt-get'));
  return line ? new AptFetchError(line.slice(line.indexOf('nbdforge: apt-get') + 'nbdforge: '.length), { cause: err }) : err;
}

/**
 * The binds of a container that runs apt: the lists, and apt's package cache made from them. Without
 * the cache each container parses the 84 MB of lists again (1-2 s of CPU; two fetch containers per
 * cold kernel). apt checks the cache against the lists and remakes it when they changed; what apt then
 * downloads is checked against the catalog's sha256 all the same.
 */
export async function aptBinds(d: { lists: string; aptCache: string }): Promise<string[]> {
  await fs.mkdir(d.lists, { recursive: true });
  await fs.mkdir(d.aptCache, { recursive: true });
  return [`${d.lists}:/var/lib/apt/lists`, `${d.aptCache}:/var/cache/apt`];
}
