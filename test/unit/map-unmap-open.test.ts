/**
 * Issue 24 item 5: unmap never disconnects a device while a process has it (or a partition of it)
 * open. The check (nm_dev_busy in src/map/sh/unmap.sh) run on a real loop device of this machine,
 * held open by a process, in every shell the emitted scripts meet.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { shells } from './host-fixtures.ts';

const src = fs.readFileSync(path.resolve('src/map/sh/unmap.sh'), 'utf8');
const fn = (name: string) => {
  const m = new RegExp(`^${name}\\(\\) \\{\\n[\\s\\S]*?\\n\\}\\n`, 'm').exec(src);
  if (!m) throw new Error(`${name} not found in unmap.sh`);
  return m[0];
};
const lib = fn('nm_dev_busy') + fn('nm_dev_open');

let dir = '';
let dev = '';
test.before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-unmap-open-'));
  fs.writeFileSync(path.join(dir, 'disk.img'), Buffer.alloc(4 << 20));
  const l = spawnSync('losetup', ['--find', '--show', path.join(dir, 'disk.img')], { encoding: 'utf8' });
  if (l.status !== 0) throw new Error(`this test needs a loop device (root): ${l.stderr}`);
  dev = l.stdout.trim();
});
test.after(() => {
  if (dev) spawnSync('losetup', ['-d', dev]);
  fs.rmSync(dir, { recursive: true, force: true });
});

const busy = (sh: string[]) => spawnSync(sh[0], [...sh.slice(1), '-c', `${lib}\nif nm_dev_busy "$1"; then echo "busy: $NM_V"; else echo free; fi`, 'sh', dev], { encoding: 'utf8' });

for (const sh of shells()) {
  test(`[${sh.join(' ')}] a device nobody holds is free; held open by a process it is busy, naming the process`, async () => {
    assert.is(busy(sh).stdout, 'free\n');
    const fd = fs.openSync(dev, 'r');
    const holder = spawn('sleep', ['60'], { stdio: [fd, 'ignore', 'ignore'] });
    fs.closeSync(fd); // only the child holds it now
    try {
      await new Promise((r) => setTimeout(r, 200));
      const r = busy(sh);
      assert.is(r.stdout, `busy: ${dev} is open in process ${holder.pid} (sleep; see: fuser -v ${dev})\n`, r.stderr);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    assert.is(busy(sh).stdout, 'free\n');
  });
}

test.run();
