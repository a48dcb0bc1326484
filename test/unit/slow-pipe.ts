/**
 * Run the real CLI binary with its stdout (or stdout and stderr) in a real pipe whose reader waits
 * before it reads, the way `nbdforge ... | (sleep 1; cat)` and `| ssh host sh` read.
 *
 * The pipe is made by python3 with its buffer shrunk to PIPE_BYTES (F_SETPIPE_SZ): every output over
 * 4 KiB fills it before the reader starts, so a process that ends without waiting for its output
 * loses bytes every time, not by luck of timing. (With the default 64 KiB buffer only outputs over
 * 64 KiB would show it; the tests use those too where the command makes them.)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const CLI = path.resolve('bin/nbdforge.js');
export const PIPE_BYTES = 4096;

const READER = `
import fcntl, os, subprocess, sys, threading, time
size, delay, both = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "both"
def pipe():
    r, w = os.pipe()
    fcntl.fcntl(w, 1031, size)  # F_SETPIPE_SZ
    assert fcntl.fcntl(w, 1032) == size  # F_GETPIPE_SZ
    return r, w
(ro, wo), (re, we) = pipe(), pipe()
p = subprocess.Popen(sys.argv[4:], stdout=wo, stderr=we if both else subprocess.DEVNULL, stdin=subprocess.DEVNULL)
os.close(wo); os.close(we)
time.sleep(delay)
got = {}
def drain(name, fd):
    with os.fdopen(fd, "rb") as f:
        got[name] = f.read()
ts = [threading.Thread(target=drain, args=a) for a in (("out", ro), ("err", re))]
for t in ts: t.start()
for t in ts: t.join()
p.wait()
sys.stdout.buffer.write(len(got["out"]).to_bytes(8, "big") + got["out"] + got["err"])
sys.stderr.write("status %d\\n" % p.returncode)
`;

export interface PipeResult {
  /** what the reader got */
  out: Buffer;
  /** with `both`: what the reader of the second pipe (stderr) got */
  err: Buffer;
  /** the CLI's exit status (negative: killed by that signal) */
  status: number;
}

/** The CLI's stdout (with `both`, stderr too, in a pipe of its own) through a PIPE_BYTES pipe read after `delayMs`. */
export function throughSlowPipe(args: string[], env: NodeJS.ProcessEnv, opts: { delayMs?: number; both?: boolean; cwd?: string } = {}): PipeResult {
  const r = spawnSync('python3', ['-c', READER, String(PIPE_BYTES), String((opts.delayMs ?? 1000) / 1000), opts.both ? 'both' : 'out', process.execPath, CLI, ...args], {
    env,
    cwd: opts.cwd,
    maxBuffer: 64 << 20,
  });
  const m = /status (-?\d+)/.exec(r.stderr.toString());
  if (!m) throw new Error(`the pipe reader failed: ${r.stderr.toString()}`);
  const n = Number(r.stdout.readBigUInt64BE(0));
  return { out: r.stdout.subarray(8, 8 + n), err: r.stdout.subarray(8 + n), status: Number(m[1]) };
}

/**
 * The same command's stdout and stderr written to files (files are written synchronously: the
 * reference), and how long it ran: the slow reader waits longer than that (readerDelay), so the pipe
 * is full when the command ends, whatever the machine's speed.
 */
export function toFile(args: string[], env: NodeJS.ProcessEnv, file: string, opts: { cwd?: string } = {}): { out: Buffer; err: Buffer; status: number; ms: number } {
  const fd = fs.openSync(file, 'w');
  const fe = fs.openSync(`${file}.err`, 'w');
  try {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [CLI, ...args], { env, cwd: opts.cwd, stdio: ['ignore', fd, fe] });
    return { out: fs.readFileSync(file), err: fs.readFileSync(`${file}.err`), status: r.status ?? -1, ms: Date.now() - t0 };
  } finally {
    fs.closeSync(fd);
    fs.closeSync(fe);
  }
}

/** How long the slow reader waits: well past the end of a command that took `ms` when written to a file. */
export const readerDelay = (ms: number) => Math.max(1000, 2 * ms + 500);
