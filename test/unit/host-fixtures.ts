/** Fake commands for host-layer tests: every call is logged with its exact argv, hex-encoded. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';


export interface Sandbox {
  dir: string;
  bin: string;
  log: string;
  env: NodeJS.ProcessEnv;
  calls(): Promise<string[][]>;
  cleanup(): Promise<void>;
}

// rec NAME ARGS...: log the call. fail CODE MSG: log, print MSG on stderr, exit CODE.
const REC = `#!/bin/sh
{ for a in "$@"; do printf '%s' "$a" | od -An -v -tx1 | tr -d ' \\n'; printf '.'; done; echo; } >> "$NF_TEST_LOG"
`;
const FAIL = `#!/bin/sh
rec fail "$@"; echo "$2" >&2; exit "$1"
`;

export async function sandbox(): Promise<Sandbox> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-host-test-'));
  const bin = path.join(dir, 'bin');
  const log = path.join(dir, 'calls.log');
  await fs.mkdir(bin);
  await fs.writeFile(path.join(bin, 'rec'), REC, { mode: 0o755 });
  await fs.writeFile(path.join(bin, 'fail'), FAIL, { mode: 0o755 });
  await fs.writeFile(log, '');
  return {
    dir,
    bin,
    log,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, NF_TEST_LOG: log },
    async calls() {
      const text = await fs.readFile(log, 'utf8');
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('.').slice(0, -1).map((h) => Buffer.from(h, 'hex').toString('utf8')));
    },
    cleanup: () => fs.rm(dir, { recursive: true, force: true }),
  };
}

/** Shells the emitted scripts must work under: dash (Debian's sh), bash in POSIX mode, busybox ash. */
export function shells(): string[][] {
  if (process.env.NBDFORGE_TEST_SH) return [[process.env.NBDFORGE_TEST_SH]];
  const all = [['/bin/sh'], ['bash', '--posix'], ['busybox', 'sh'], ['dash']];
  return all.filter((s) => spawnSync(s[0], [...s.slice(1), '-c', 'exit 0']).status === 0);
}

export function runScript(shell: string[], script: string, env: NodeJS.ProcessEnv, cwd?: string) {
  const r = spawnSync(shell[0], [...shell.slice(1), '-s'], { input: script, env, cwd, encoding: 'utf8' });
  return { exitCode: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}
