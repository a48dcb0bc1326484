import { execFile } from 'node:child_process';
import { NbdforgeError } from '../errors.ts';

/** What a tool said: its exit code is an answer here, not an exception (a bad signature exits 1). */
export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The tool could not run at all (missing binary, killed): carries the command line. */
export class ToolError extends NbdforgeError {
  override name = 'ToolError';
  constructor(
    readonly command: string[],
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The one way nbdforge runs a host tool from TypeScript and reads its answer (gpgv, rpmkeys, ...):
 * argv only (no shell), bounded output, a non-zero exit returned, not thrown. Only a tool that
 * cannot start (or is killed) throws, as ToolError naming it.
 */
export function runTool(cmd: string, args: string[], o: { maxBuffer?: number; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: o.maxBuffer ?? 16 * 1024 * 1024, timeout: o.timeoutMs ?? 120_000, env: o.env }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      if (err && typeof code !== 'number') reject(new ToolError([cmd, ...args], `${cmd} could not run: ${err.message}`, { cause: err }));
      else resolve({ code: err ? (code as number) : 0, stdout, stderr });
    });
  });
}
