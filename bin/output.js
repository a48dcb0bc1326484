// @ts-check
/**
 * The CLI process's standard streams: every byte a command writes reaches the reader, a write error
 * is a failure, and a reader that goes away ends the output quietly.
 *
 * Node writes to a pipe asynchronously once the pipe's buffer is full, so the process must not end
 * (process.exit) before both streams took everything. A write error arrives as an 'error' event,
 * which would otherwise crash the process with a stack trace.
 */

/** Exit status when the reader went away (EPIPE): what a shell reports for a tool killed by SIGPIPE. */
export const EXIT_READER_GONE = 141;

/** @typedef {{ stdout: NodeJS.WriteStream, stderr: NodeJS.WriteStream }} Streams */

/** @type {WeakMap<object, { readerGone: boolean, failed: boolean }>} */
const states = new WeakMap();

/** @param {unknown} err */
const describe = (err) => {
  const e = /** @type {NodeJS.ErrnoException} */ (err);
  const why = { ENOSPC: 'no space left on device', EIO: 'input/output error', EDQUOT: 'disk quota exceeded', EFBIG: 'file too large', EBADF: 'not open for writing' }[e.code ?? ''];
  return e.code ? `${e.code}${why ? ` (${why})` : ''}` : e.message;
};

/**
 * Listen for write errors on stdout and stderr. EPIPE (the reader is gone, as with `| head -1`):
 * the rest is dropped without a word. Any other error (ENOSPC, EIO): one line on stderr, once,
 * and the run's exit status becomes non-zero.
 * @param {Streams} proc
 */
export function guardOutput(proc) {
  const state = { readerGone: false, failed: false };
  states.set(proc, state);
  /** @param {NodeJS.WriteStream} stream @param {string} name */
  const watch = (stream, name) =>
    stream.on('error', (err) => {
      if (/** @type {NodeJS.ErrnoException} */ (err).code === 'EPIPE') {
        state.readerGone = true;
        return;
      }
      if (state.failed) return;
      state.failed = true;
      if (stream !== proc.stderr && !proc.stderr.destroyed) proc.stderr.write(`nbdforge: writing ${name} failed: ${describe(err)}; the output is incomplete\n`);
    });
  watch(proc.stdout, 'standard output');
  watch(proc.stderr, 'standard error');
}

/**
 * Resolves once everything queued on the stream before this call was written (or the stream failed):
 * an empty write's callback runs after every earlier write's.
 * @param {NodeJS.WriteStream} stream
 * @returns {Promise<void>}
 */
function drained(stream) {
  if (stream.destroyed || stream.writableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    stream.write('', () => resolve());
  });
}

/**
 * The exit status a run ends with: the command's own, unless its output could not be written.
 * @param {number} code the command's status
 * @param {{ readerGone: boolean, failed: boolean }} state
 */
export function exitStatus(code, state) {
  if (code !== 0) return code;
  if (state.failed) return 1;
  if (state.readerGone) return EXIT_READER_GONE;
  return 0;
}

/**
 * Wait until stdout and stderr took every byte, set the exit status and let the process end by
 * itself. Whatever a command opened it closes; if some handle still holds the process once the
 * output is out, the run is over anyway: it ends after a short grace (NBDFORGE_DEBUG names the
 * handles, so the leak can be fixed where it is opened).
 * @param {Streams & { exitCode?: number | string | undefined, env: NodeJS.ProcessEnv, exit(code?: number): never }} proc
 * @param {number} code
 * @param {number} [graceMs]
 */
export async function finishOutput(proc, code, graceMs = 1000) {
  await drained(proc.stdout);
  // a failed write's 'error' event comes a tick after its callback: let it say its line first
  await new Promise((resolve) => setImmediate(resolve));
  await drained(proc.stderr);
  const state = states.get(proc) ?? { readerGone: false, failed: false };
  const status = exitStatus(code, state);
  proc.exitCode = status;
  const timer = setTimeout(() => {
    if (proc.env.NBDFORGE_DEBUG) {
      // @ts-ignore: internal, debug only
      const held = typeof process._getActiveHandles === 'function' ? process._getActiveHandles().map((h) => h?.constructor?.name) : [];
      proc.stderr.write(`nbdforge: still held open after the output was written: ${held.join(', ')}\n`);
    }
    proc.exit(status);
  }, graceMs);
  // unref: the timer itself never keeps the process alive; it only fires if something else does
  timer.unref();
}
