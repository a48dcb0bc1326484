/**
 * Issue 21: the process door (src/doors/exec.ts) with real child processes: an exit code is an
 * answer for runTool and an error naming the tool for run; stdin is the input given or /dev/null;
 * output and time are bounded; a missing tool is told apart; shell keeps bash's pipefail.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isNotFound, run, runTool, shell, ToolError, ToolExitError } from '../../src/doors/exec.ts';

test('runTool returns a non-zero exit with what the tool said; run throws it as ToolExitError naming tool, code and stderr', async () => {
  const r = await runTool('sh', ['-c', 'echo out; echo why >&2; exit 3']);
  assert.equal([r.code, r.stdout, r.stderr], [3, 'out\n', 'why\n']);
  const err = await run('sh', ['-c', 'echo "no such key" >&2; exit 2']).then(() => undefined, (e: unknown) => e);
  assert.instance(err, ToolExitError);
  assert.is((err as ToolExitError).status, 2);
  assert.is((err as Error).message, 'sh exited with 2: no such key');
  assert.equal((err as ToolExitError).command.slice(0, 2), ['sh', '-c']);
});

test('stdin: the input given (bytes intact), else /dev/null; env and cwd are the ones handed', async () => {
  const bytes = Buffer.from([0, 1, 2, 255, 10]);
  assert.equal((await run('cat', [], { input: bytes })).bytes, bytes);
  assert.is((await run('sh', ['-c', 'cat; echo end'])).stdout, 'end\n', 'no input: stdin is at its end at once');
  assert.is((await run('sh', ['-c', 'echo "$X $(pwd)"'], { env: { PATH: process.env.PATH, X: 'x1' }, cwd: '/' })).stdout, 'x1 /\n');
});

test('bounded: too much output and too long a run are ToolErrors naming the tool; a missing tool is isNotFound', async () => {
  const big = await runTool('head', ['-c', '100000', '/dev/zero'], { maxBuffer: 1000 }).then(() => undefined, (e: unknown) => e);
  assert.instance(big, ToolError);
  assert.match((big as Error).message, 'head wrote more than 1000 bytes to stdout');
  const t0 = Date.now();
  const slow = await runTool('sleep', ['30'], { timeoutMs: 300 }).then(() => undefined, (e: unknown) => e);
  assert.instance(slow, ToolError);
  assert.match((slow as Error).message, 'sleep did not finish in 0.3 s');
  assert.ok(Date.now() - t0 < 10_000, 'killed, not waited for');
  const missing = await runTool('nbdforge-no-such-tool', []).then(() => undefined, (e: unknown) => e);
  assert.ok(isNotFound(missing));
  assert.match((missing as Error).message, 'nbdforge-no-such-tool could not run');
  assert.not.ok(isNotFound(big));
});

test('shell: a quoted argv and a pipeline whose failing first stage fails it (pipefail); nothrow returns the code', async () => {
  const argv = ['printf', '%s|', 'a b', "c'd"];
  assert.is((await shell()`${argv}`).stdout, "a b|c'd|");
  const failed = await shell()`false | cat`.then(() => undefined, (e: unknown) => e);
  assert.ok(failed instanceof Error);
  assert.is((await shell({ nothrow: true })`exit 4`).exitCode, 4);
});

test.run();
