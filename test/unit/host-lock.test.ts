import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { acquireFileLock, LockTimeoutError, ownerStamp, processStartTime } from '../../src/util/file-lock.ts';
import { shells } from './host-fixtures.ts';

/**
 * nbdforge's one lock policy, written twice (src/util/file-lock.ts for Node, src/util/file-lock.sh
 * for emitted scripts and map steps): one table of scenarios, run against both, under every sh.
 */
const LOCK_SH = readFileSync(new URL('../../src/util/file-lock.sh', import.meta.url), 'utf8');

interface Outcome {
  taken: boolean;
  /** The holder named on refusal (undefined: unknown). */
  holder?: number;
  /** What the lock held while taken, and who took it. */
  stamp?: string;
  taker: number;
  ms: number;
}
interface Impl {
  name: string;
  take(lock: string, waitS: number): Promise<Outcome>;
}

const tsImpl: Impl = {
  name: 'ts',
  async take(lock, waitS) {
    const t0 = Date.now();
    try {
      const held = await acquireFileLock(lock, { timeoutMs: waitS * 1000 });
      const stamp = await fs.readFile(lock, 'utf8');
      await held.release();
      return { taken: true, stamp, taker: process.pid, ms: Date.now() - t0 };
    } catch (err) {
      if (!(err instanceof LockTimeoutError)) throw err;
      return { taken: false, holder: err.holder, taker: process.pid, ms: Date.now() - t0 };
    }
  },
};

const TAKE = `${LOCK_SH}
lk_take "$1" "$2"; rc=$?
printf 'rc=%s pid=%s me=%s\\n' "$rc" "$LK_PID" "$$"
if [ "$rc" = 0 ]; then cat "$1"; lk_drop "$1"; fi`;

function shImpl(sh: string[]): Impl {
  return {
    name: sh.join(' '),
    async take(lock, waitS) {
      const t0 = Date.now();
      const out = await run(sh, ['-c', TAKE, 'sh', lock, String(waitS)]);
      const m = /^rc=(\d) pid=(\d*) me=(\d+)\n([\s\S]*)$/.exec(out);
      assert.ok(m && m[1] !== '2', `${sh.join(' ')}: ${out}`);
      return { taken: m![1] === '0', holder: m![2] ? Number(m![2]) : undefined, stamp: m![4] || undefined, taker: Number(m![3]), ms: Date.now() - t0 };
    },
  };
}

function run(sh: string[], args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(sh[0], [...sh.slice(1), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${sh.join(' ')} exited ${code}: ${err}`))));
  });
}

/** A live process to name as a holder; `argv0Named` puts "nbdforge" in its command line. */
async function liveProcess(argv0Named = false): Promise<ChildProcess> {
  const p = argv0Named ? spawn('sh', ['-c', 'sleep 60; :', 'nbdforge-test-holder'], { stdio: 'ignore' }) : spawn('sleep', ['60'], { stdio: 'ignore' });
  for (let i = 0; i < 50 && !processStartTime(p.pid!); i++) await new Promise((r) => setTimeout(r, 20));
  return p;
}

async function deadPid(): Promise<number> {
  const p = spawn('true', { stdio: 'ignore' });
  await new Promise((r) => p.on('exit', r));
  return p.pid!;
}

interface Scenario {
  name: string;
  /** Put the lock in its starting state; returns what to do once the take has started, if anything. */
  setup(lock: string, live: ChildProcess): Promise<(() => void) | void>;
  waitS: number;
  taken: boolean;
  /** The holder the refusal names: the live process, or unknown. */
  names?: 'live' | 'unknown';
  minMs?: number;
  maxMs: number;
}

const SCENARIOS: Scenario[] = [
  { name: 'free lock: taken at once', setup: async () => undefined, waitS: 0, taken: true, maxMs: 3000 },
  { name: 'held by a live process: refused, holder named', setup: async (l, live) => fs.writeFile(l, ownerStamp(live.pid)), waitS: 0, taken: false, names: 'live', maxMs: 3000 },
  { name: 'stale by a dead pid: taken over', setup: async (l) => fs.writeFile(l, `nbdforge ${await deadPid()} 12345\n`), waitS: 0, taken: true, maxMs: 3000 },
  { name: 'stale by a reused pid (same pid, other start time): taken over', setup: async (l, live) => fs.writeFile(l, `nbdforge ${live.pid} 1\n`), waitS: 0, taken: true, maxMs: 3000 },
  {
    name: 'wait, then acquire when the holder ends',
    setup: async (l) => {
      const holder = await liveProcess();
      await fs.writeFile(l, ownerStamp(holder.pid));
      return () => setTimeout(() => holder.kill(), 600);
    },
    waitS: 20,
    taken: true,
    minMs: 500,
    maxMs: 15_000,
  },
  { name: 'wait times out: refused after the bound, holder named', setup: async (l, live) => fs.writeFile(l, ownerStamp(live.pid)), waitS: 1, taken: false, names: 'live', minMs: 900, maxMs: 10_000 },
  { name: 'an empty lock younger than 5 s: a writer that is starting, refused', setup: async (l) => fs.writeFile(l, ''), waitS: 0, taken: false, names: 'unknown', maxMs: 3000 },
  {
    name: 'an empty lock older than 5 s: taken over',
    setup: async (l) => {
      await fs.writeFile(l, '');
      const old = new Date(Date.now() - 60_000);
      await fs.utimes(l, old, old);
    },
    waitS: 0,
    taken: true,
    maxMs: 3000,
  },
  { name: 'garbage in the lock: stale', setup: async (l) => fs.writeFile(l, 'not a stamp\n'), waitS: 0, taken: true, maxMs: 3000 },
  { name: 'an older bare pid of a live process that is not nbdforge: stale', setup: async (l, live) => fs.writeFile(l, `${live.pid}\n`), waitS: 0, taken: true, maxMs: 3000 },
  {
    name: 'an older directory lock with a live pid: refused',
    setup: async (l, live) => {
      await fs.mkdir(l);
      await fs.writeFile(path.join(l, 'pid'), `${live.pid}\n`);
    },
    waitS: 0,
    taken: false,
    names: 'live',
    maxMs: 3000,
  },
  {
    name: 'an older directory lock with a dead pid: taken over',
    setup: async (l) => {
      await fs.mkdir(l);
      await fs.writeFile(path.join(l, 'pid'), `${await deadPid()}\n`);
    },
    waitS: 0,
    taken: true,
    maxMs: 3000,
  },
];

const IMPLS: Impl[] = [tsImpl, ...shells().map(shImpl)];
let tmp = '';
let live: ChildProcess;

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-lock-'));
  live = await liveProcess();
});
test.after(async () => {
  live.kill();
  await fs.rm(tmp, { recursive: true, force: true });
});

for (const impl of IMPLS) {
  test(`[${impl.name}] the lock policy: ${SCENARIOS.length} scenarios`, async () => {
    for (const [i, sc] of SCENARIOS.entries()) {
      const lock = path.join(tmp, `${impl.name.replace(/\W+/g, '-')}-${i}.lock`);
      const before = await sc.setup(lock, live);
      const content = await fs.readFile(lock, 'utf8').catch(() => undefined);
      const pending = impl.take(lock, sc.waitS);
      if (before) before();
      const r = await pending;
      const what = `${impl.name}: ${sc.name}: ${JSON.stringify(r)}`;
      assert.is(r.taken, sc.taken, what);
      assert.ok(r.ms <= sc.maxMs && r.ms >= (sc.minMs ?? 0), what);
      if (r.taken) {
        assert.match(r.stamp!, new RegExp(`^nbdforge ${r.taker} \\d+\\n$`), what);
        assert.not.ok(await fs.stat(lock).catch(() => undefined), `${what}: released`);
      } else {
        assert.is(r.holder, sc.names === 'live' ? live.pid : undefined, what);
        assert.is(await fs.readFile(lock, 'utf8').catch(() => undefined), content, `${what}: the holder's lock is left alone`);
        await fs.rm(lock, { recursive: true, force: true });
      }
    }
  });
}

test('the two implementations see each other: a lock held in sh refuses Node, one held by Node refuses sh', async () => {
  const lock = path.join(tmp, 'cross.lock');
  for (const sh of shells()) {
    const child = spawn(sh[0], [...sh.slice(1), '-c', `${LOCK_SH}\nlk_take "$1" 0 || exit 9\necho taken\nsleep 30`, 'sh', lock], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((r) => child.stdout!.once('data', r));
      const r = await tsImpl.take(lock, 0);
      assert.is(r.taken, false, sh.join(' '));
      assert.is(r.holder, child.pid, sh.join(' '));
      assert.is(await fs.readFile(lock, 'utf8'), ownerStamp(child.pid), `${sh.join(' ')}: the sh stamp is the Node stamp of that process`);
    } finally {
      child.kill();
      await new Promise((r) => child.on('exit', r));
      await fs.rm(lock, { force: true });
    }
    const held = await acquireFileLock(lock, { timeoutMs: 0 });
    try {
      const r = await shImpl(sh).take(lock, 0);
      assert.is(r.taken, false, sh.join(' '));
      assert.is(r.holder, process.pid, sh.join(' '));
    } finally {
      await held.release();
    }
  }
});

test.run();
