import type { NetReporter } from './net-types.ts';

/** A reporter for a command: waiting lines on `err` always; the progress line only on a terminal, and not with json. */
export function stderrReporter(err: NodeJS.WritableStream & { isTTY?: boolean }, o: { json?: boolean; prefix?: string } = {}): NetReporter {
  const prefix = o.prefix ?? 'nbdforge: ';
  return {
    waiting: (line) => void err.write(`${err.isTTY ? '\r\x1b[2K' : ''}${prefix}${line}\n`),
    progress: err.isTTY && !o.json ? (line) => void err.write(line === undefined ? '\r\x1b[2K' : `\r\x1b[2K${line}`) : undefined,
  };
}
