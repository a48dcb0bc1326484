/**
 * Issue 19 item 6: the matrix's live view on a terminal has a header with an n/N done count, keeps
 * log lines above it (never drawn over), and leaves no stale rows: stop() erases the block so the
 * final table replaces it. Checked on what a terminal shows (test/unit/screen.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProgressView } from '../../src/builder/progress.ts';
import type { MatrixResult } from '../../src/builder/matrix.ts';
import { screen } from './screen.ts';

class Tty {
  text = '';
  isTTY = true;
  columns = 120;
  rows = 40;
  write(s: string) {
    this.text += s;
    return true;
  }
}

const done = (k: string, status: MatrixResult['status'], error?: Error) => ({ type: 'done' as const, result: { kernelRelease: k, status, durationMs: 1, error } });

test('a header with n/N, log lines kept above the block, and nothing left of the block after stop', () => {
  const tty = new Tty();
  const ks = ['6.1.0-56-amd64', '6.1.0-57-amd64', '6.12.117+deb12-amd64'];
  const v = new ProgressView(tty as unknown as NodeJS.WriteStream, ks);
  v.log('  sources: 3 kernels, 0 to fetch');
  v.event({ type: 'stage', kernelRelease: ks[0], stage: 'fetch' });
  v.event({ type: 'stage', kernelRelease: ks[1], stage: 'compile' });
  let s = screen(tty.text);
  assert.equal(s[0], '  sources: 3 kernels, 0 to fetch');
  assert.match(s[1], /^KERNEL\s+TIME\s+STAGE\s+\(0\/3 done\)$/);
  assert.match(s[2], /^6\.1\.0-56-amd64\s+\d+\.\ds\s+fetch$/);
  assert.match(s[3], /^6\.1\.0-57-amd64\s+\d+\.\ds\s+compile$/);
  v.event(done(ks[0], 'built'));
  v.log('  downloaded linux-source-6.12 (139 MB)');
  v.event(done(ks[1], 'cached'));
  v.event(done(ks[2], 'failed', new Error('compile failed\nmore')));
  s = screen(tty.text);
  assert.equal(s.slice(0, 2), ['  sources: 3 kernels, 0 to fetch', '  downloaded linux-source-6.12 (139 MB)']);
  assert.match(s[2], /\(3\/3 done\)/);
  assert.match(s[5], /FAILED: compile failed$/);
  v.stop();
  tty.write('KERNEL  STATUS\n6.1.0-56-amd64  built\n');
  s = screen(tty.text);
  // the final table directly below the log lines: no stale live row, no header left over
  assert.equal(s, ['  sources: 3 kernels, 0 to fetch', '  downloaded linux-source-6.12 (139 MB)', 'KERNEL  STATUS', '6.1.0-56-amd64  built']);
});

test('a matrix taller than the terminal shows the running kernels and counts the rest (cursor moves stay on screen)', () => {
  const tty = new Tty();
  tty.rows = 10;
  const ks = Array.from({ length: 36 }, (_, i) => `6.1.0-${i}-amd64`);
  const v = new ProgressView(tty as unknown as NodeJS.WriteStream, ks);
  v.event({ type: 'stage', kernelRelease: ks[0], stage: 'compile' });
  v.event({ type: 'stage', kernelRelease: ks[1], stage: 'verify' });
  v.event(done(ks[2], 'cached'));
  const s = screen(tty.text);
  assert.ok(s.length <= tty.rows - 1, `${s.length} lines on a ${tty.rows}-line terminal`);
  assert.match(s[0], /\(1\/36 done\)/);
  assert.match(s.at(-1)!, /33 queued, 1 done$/);
  v.stop();
  assert.equal(screen(tty.text), []);
});

test('not a terminal: one plain line per change, with the count', () => {
  const out = new Tty();
  out.isTTY = false;
  const v = new ProgressView(out as unknown as NodeJS.WriteStream, ['a', 'b'], false);
  v.event({ type: 'stage', kernelRelease: 'a', stage: 'fetch' });
  v.event(done('a', 'built'));
  v.log('  a line');
  v.stop();
  const lines = out.text.trimEnd().split('\n');
  assert.match(lines[0], /^\[0\/2\] a  fetch  \d+\.\ds$/);
  assert.match(lines[1], /^\[1\/2\] a  built  \d+\.\ds$/);
  assert.is(lines[2], '  a line');
  assert.not.match(out.text, /\x1b/);
});

test.run();
