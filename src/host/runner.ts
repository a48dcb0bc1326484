import type { Plan, PlanResult } from './plan.ts';
import { NbdforgeError } from '../errors.ts';

export interface ExecOptions {
  stdin?: Uint8Array;
  /** Expected failures are answers, not errors: return the result instead of throwing. */
  nothrow?: boolean;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** The one door for host commands: run one argv, or a whole Plan. */
export interface Runner {
  readonly name: string;
  /** Where the commands run, for reports ("local", "ssh root@h"). */
  readonly target: string;
  /** Plans travel as emitted scripts (payloads as base64), so the target also needs base64. */
  readonly sendsScripts?: boolean;
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  run(plan: Plan): Promise<PlanResult>;
}

/**
 * A failed host command, carrying what is needed to understand it without re-running it. Failed
 * work for the CLI (exit 1), whatever status the command ended with.
 */
export class HostCommandError extends NbdforgeError {
  override name = 'HostCommandError';
  constructor(
    readonly command: string[],
    /** The command's own exit status. */
    readonly status: number,
    readonly stderr: string,
    readonly target: string,
    readonly calledFrom?: string,
  ) {
    super(
      `${target}: \`${command.join(' ')}\` exited ${status}${stderr.trim() ? `: ${lastLines(stderr, 5)}` : ''}` +
        (calledFrom ? ` (called from ${calledFrom})` : ''),
    );
  }
}

export function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join('\n');
}

/** The caller's frame outside src/host, for error messages. */
export function callSite(): string | undefined {
  const lines = (new Error().stack ?? '').split('\n').slice(1);
  const outside = lines.find((l) => !l.includes('/src/host/') && !l.includes('node:internal') && !l.includes('node_modules'));
  return outside?.trim().replace(/^at /, '');
}
