import { stderrReporter, timeoutFrom, timeoutHelp, type NetOptions } from '../fetch/index.ts';

/** `--timeout S` for every command that fetches (NBDFORGE_TIMEOUT when absent). */
export const timeoutOption = { timeout: { type: 'string' } } as const;
export { timeoutHelp };

/**
 * The network side of a command, read once at the edge: the limits from --timeout or the
 * environment, and a reporter that writes the "waiting for" line to stderr (and, on a terminal
 * without --json, a progress line). stdout stays the command's result alone.
 */
export function netOptionsFrom(
  values: { timeout?: string; json?: boolean },
  ctx: { env: NodeJS.ProcessEnv; stderr: NodeJS.WritableStream & { isTTY?: boolean } },
  o: { prefix?: string; /** false where the command draws its own progress (build's view, sync's renderer) */ progress?: boolean } = {},
): NetOptions {
  return { limits: timeoutFrom(values.timeout, ctx.env), report: stderrReporter(ctx.stderr, { json: values.json || o.progress === false, prefix: o.prefix }) };
}
