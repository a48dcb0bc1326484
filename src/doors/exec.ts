/**
 * The one door to child processes: every tool nbdforge runs from TypeScript (gpg, rpmbuild, depmod,
 * xfs_io, qemu, the host runners' commands) starts here. argv only (no shell) for `runTool` and
 * `run`; `shell` is for the few callers that need a pipeline or zx's quoting of a whole argv, and
 * loads zx only when first called (start-up time: docs/BENCHMARKS.md "Start-up").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { ProcessOutput } from 'zx';
import { NbdforgeError } from '../errors.ts';

/** What a tool said: its exit code is an answer here, not an exception (a bad signature exits 1). */
export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as bytes (a binary key export, a Packages index). */
  bytes: Buffer;
}

/** The tool could not run at all (missing binary, killed, too much output, too slow): carries the command line. */
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

/** The tool ran and exited non-zero where success was required: names it, its exit code and what it said. */
export class ToolExitError extends ToolError {
  override name = 'ToolExitError';
  constructor(
    command: string[],
    /** the tool's own exit status (not nbdforge's exit code) */
    readonly status: number,
    readonly stderr: string,
  ) {
    const said = stderr.trim().split('\n').slice(-5).join('\n');
    super(command, `${command[0]} exited with ${status}${said ? `: ${said}` : ''}`);
  }
}

/** The bound for tools that pack or index (rpmbuild, createrepo_c, dpkg-deb, depmod of a tree): seconds normally, minutes under load. */
export const SLOW_TOOL_MS = 10 * 60_000;

export interface ToolOptions {
  /** The whole environment of the child (the env read at the edge); default this process's. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to the child's stdin, which is then closed; without it stdin is /dev/null. */
  input?: string | Uint8Array;
  /** Each of stdout and stderr is bounded: more is a ToolError (default 16 MiB). */
  maxBuffer?: number;
  /** Killed after this long, a ToolError (default 120 s). */
  timeoutMs?: number;
}

/**
 * Run a tool and read its answer: bounded output, a time limit, a non-zero exit returned, not
 * thrown. Only a tool that cannot start, is killed or overflows throws, as ToolError naming it.
 */
export function runTool(cmd: string, args: string[], o: ToolOptions = {}): Promise<ToolResult> {
  const command = [cmd, ...args];
  const max = o.maxBuffer ?? 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    let failed: ToolError | undefined;
    const fail = (e: ToolError) => {
      failed ??= e;
      child.kill('SIGKILL');
    };
    const child = spawn(cmd, args, { env: o.env ?? process.env, cwd: o.cwd, stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const collect = (stream: NodeJS.ReadableStream, into: Buffer[], name: string) => {
      let size = 0;
      stream.on('data', (c: Buffer) => {
        size += c.length;
        if (size > max) fail(new ToolError(command, `${cmd} wrote more than ${max} bytes to ${name}`));
        else into.push(c);
      });
    };
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    collect(child.stdout!, out, 'stdout');
    collect(child.stderr!, err, 'stderr');
    const timer = setTimeout(() => fail(new ToolError(command, `${cmd} did not finish in ${(o.timeoutMs ?? 120_000) / 1000} s`)), o.timeoutMs ?? 120_000);
    if (o.input !== undefined) {
      child.stdin!.on('error', () => undefined); // a tool that exits without reading its input is judged by its exit
      child.stdin!.end(o.input);
    }
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(failed ?? new ToolError(command, `${cmd} could not run: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failed) return reject(failed);
      if (code === null) return reject(new ToolError(command, `${cmd} could not run: killed by ${signal}`));
      const bytes = Buffer.concat(out);
      resolve({ code, stdout: bytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), bytes });
    });
  });
}

/** The tool is not installed (not on PATH): a ToolError whose spawn said ENOENT. */
export const isNotFound = (err: unknown): boolean => err instanceof ToolError && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';

/** The same, where only success is an answer: a non-zero exit is a ToolExitError. */
export async function run(cmd: string, args: string[], o: ToolOptions = {}): Promise<ToolResult> {
  const r = await runTool(cmd, args, o);
  if (r.code !== 0) throw new ToolExitError([cmd, ...args], r.code, r.stderr);
  return r;
}

/** A long-running child whose output the caller streams (a QEMU guest): stdin /dev/null, stdout and stderr piped. */
export function startTool(cmd: string, args: string[], o: { env?: NodeJS.ProcessEnv } = {}): ChildProcess & { stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream } {
  return spawn(cmd, args, { env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface ShellOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string | Buffer;
  /** A non-zero exit is returned in exitCode instead of thrown. */
  nothrow?: boolean;
}

/**
 * zx's `$` (bash, `set -euo pipefail`, each interpolated argv quoted), quiet, loaded on first use:
 * `await shell({ cwd })\`find . -print0 | sort -z | cpio ... > ${out}\``.
 */
export function shell(o: ShellOptions = {}): (pieces: TemplateStringsArray, ...args: unknown[]) => Promise<ProcessOutput> {
  return async (pieces, ...args) => {
    const { $ } = await import('zx');
    return $({ quiet: true, ...o })(pieces, ...(args as never[]));
  };
}
