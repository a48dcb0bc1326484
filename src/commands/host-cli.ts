import fs from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic.ts';
import path from 'node:path';
import type { Runner } from '../host/runner.ts';
import { LocalRunner } from '../host/runners/local.ts';
import { SshRunner } from '../host/runners/ssh.ts';
import { DryRunRunner } from '../host/runners/dry-run.ts';
import { renderTable } from '../host/report.ts';
import { exitCodeOf } from '../host/plan.ts';
import { type CommandContext, UsageError } from './context.ts';
import { shQuote } from '../host/quote.ts';
import { DEFAULT_STATE_DIR } from '../map/request.ts';
import type { MapOutcome } from '../map/run.ts';

/** Options every map/unmap/export command takes (parsed with the command's own). */
export const targetOptions = {
  'state-dir': { type: 'string' },
  ssh: { type: 'string' },
  'ssh-option': { type: 'string', multiple: true },
  'dry-run': { type: 'boolean', default: false },
  'emit-script': { type: 'string' },
} as const;

export const TARGET_USAGE = `  --state-dir D     journals and locks on the target (default ${DEFAULT_STATE_DIR}, env NBDFORGE_STATE_DIR)
  --ssh DEST        run on DEST over ssh (the host needs sh and the tools, not Node)
  --ssh-option O    passed to ssh as -o O (repeatable), e.g. Port=2222 or IdentityFile=~/.ssh/k
  --dry-run         change nothing: run the checks a real run refuses with, on the target, and
                    print them with the steps that would run (exit 3 where it would refuse)
  --emit-script F   write a standalone POSIX sh script to F ('-' for stdout) instead of running
  --json            the report as JSON on stdout`;

export interface Target {
  runner: Runner;
  mode: 'run' | 'emit';
  stateDir: string;
  emit?: string;
  remote: boolean;
}

export function targetFrom(values: { 'state-dir'?: string; ssh?: string; 'ssh-option'?: string[]; 'dry-run'?: boolean; 'emit-script'?: string; json?: boolean }, ctx: CommandContext, tag: string): Target {
  const log = values.json ? undefined : (l: string) => ctx.stderr.write(`[${tag}] ${l}\n`);
  if (values.ssh !== undefined) checkSshDestination(values.ssh);
  if (values['ssh-option'] && values.ssh === undefined) throw new UsageError('--ssh-option goes with --ssh');
  const sshOptions = (values['ssh-option'] ?? []).flatMap((o) => ['-o', o]);
  const base: Runner = values.ssh ? new SshRunner(values.ssh, { log, sshOptions }) : new LocalRunner({ log });
  const emit = values['emit-script'];
  if (values['dry-run'] && emit !== undefined) throw new UsageError('--dry-run and --emit-script exclude each other (a dry run checks the target; --emit-script writes the whole script)');
  // a dry run prints a table of checks and steps (finish); the commands themselves only with --emit-script
  const runner = values['dry-run'] ? new DryRunRunner(base, () => {}, false) : base;
  return {
    runner,
    mode: emit !== undefined ? 'emit' : 'run',
    stateDir: values['state-dir'] ?? ctx.env.NBDFORGE_STATE_DIR ?? DEFAULT_STATE_DIR,
    emit,
    remote: emit !== undefined || values.ssh !== undefined,
  };
}

/**
 * What an emitted script's header names as its maker: the version and the command line as typed
 * (each word quoted; a password in a URL's user part is not repeated).
 */
export function generatorOf(version: string, command: string, argv: string[]): string {
  const words = argv.map((a) => shQuote(a.replace(/([a-z][a-z0-9+.-]*:\/\/[^/@:\s]*):[^/@\s]*@/gi, '$1:***@')));
  return `nbdforge ${version}: nbdforge ${command}${words.length ? ` ${words.join(' ')}` : ''}`;
}

/** An ssh destination that starts with '-' would be read by ssh as an option (-oProxyCommand=...). */
export function checkSshDestination(dest: string): void {
  if (dest === '' || dest.startsWith('-'))
    throw new UsageError(`--ssh ${JSON.stringify(dest)} is not a destination: give user@host (ssh options go in --ssh-option, e.g. --ssh-option Port=2222)`);
}

/**
 * Write an output file the user named (an emitted script 0755, or `mode`) beside it and rename it
 * into place, so a failure (a full disk) leaves the old file or none, never a partial one; says
 * whether a file was replaced.
 */
export async function writeScript(file: string, script: string, mode = 0o755): Promise<string> {
  const existed = await fs.lstat(file).then(() => true, () => false);
  await writeFileAtomic(file, script, mode);
  return existed ? `replaced ${file}` : `wrote ${file}`;
}

/** A path as the target sees it: relative paths only make sense on this machine. */
export function targetPath(p: string, t: Target, what: string): string {
  if (t.remote && !path.isAbsolute(p)) throw new UsageError(`${what} must be an absolute path on the target with --ssh/--emit-script: ${p}`);
  return path.resolve(p);
}

/** Write the emitted script, or print the plan report; returns the exit status. */
export async function finish(ctx: CommandContext, t: Target, out: MapOutcome, json: boolean, body: () => string, extra: () => object = () => ({})): Promise<number> {
  if (out.script !== undefined) {
    if (t.emit === '-') ctx.stdout.write(out.script);
    else ctx.stderr.write(`${await writeScript(t.emit!, out.script)}: run it as root on the target (sh ${shQuote(t.emit!)})\n`);
    return 0;
  }
  const code = exitCodeOf(out.result.outcome);
  const dry = out.result.runner === 'dry-run';
  if (json) {
    ctx.stdout.write(JSON.stringify({ ...(dry ? { dryRun: true } : {}), result: out.result, exitCode: code, ...(dry ? (out.preview ? { preview: out.preview } : {}) : extra()) }, null, 2) + '\n');
    return code;
  }
  if (dry) {
    ctx.stdout.write(renderTable(out.result, [`${out.plan?.title ?? out.result.plan} on ${t.runner.target}: dry run`, ...(out.preview ?? [])]));
    return code;
  }
  if (out.result.outcome === 'refused' || out.result.steps.length === 0) {
    ctx.stderr.write(`${out.result.outcome}: ${out.result.message ?? ''}\n`);
    return code;
  }
  if (code !== 0) {
    ctx.stderr.write(out.result.steps.length ? renderTable(out.result) : `result: ${out.result.outcome}: ${out.result.message ?? ''}\n`);
    return code;
  }
  ctx.stdout.write(body());
  return code;
}
