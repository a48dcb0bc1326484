import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { type Engine, type EngineContainer, ownerLabels } from './engine.ts';
import { ContainerError } from './errors.ts';
import { lineSink } from './run.ts';

export interface KeepSpec {
  image: string;
  /** host path -> container path[:ro] */
  binds?: string[];
  tmpfs?: Record<string, string>;
  labels?: Record<string, string>;
  network?: 'bridge' | 'none';
  /** Aborting kills the container, and with it whatever runs in it. */
  signal?: AbortSignal;
}

export interface ExecSpec {
  cmd: string[];
  /** How errors name the command (default: cmd), e.g. without the wrapper it runs in. */
  what?: string;
  env?: Record<string, string>;
  onLine?: (line: string) => void;
}

/** A container kept running for several commands (one matrix worker's builds): exec each, release once. */
export interface KeptContainer {
  exec(spec: ExecSpec): Promise<{ output: string }>;
  /** Kill and remove it; idempotent. */
  release(): Promise<void>;
}

/**
 * Create and start a labelled container that idles (`sleep infinity`) until released. Each exec costs
 * one API round trip instead of a container's creation, network set-up, start and removal.
 */
export async function keepContainer(docker: Engine, spec: KeepSpec): Promise<KeptContainer> {
  if (spec.signal?.aborted) throw new Error('aborted before start', { cause: spec.signal.reason });
  const container = await docker.createContainer({
    Image: spec.image,
    Cmd: ['sleep', 'infinity'],
    Labels: { ...ownerLabels(), ...spec.labels },
    HostConfig: { Binds: spec.binds, Tmpfs: spec.tmpfs, NetworkMode: spec.network ?? 'bridge' },
  });
  let released: Promise<void> | undefined;
  const release = () => (released ??= container.remove({ force: true }).then(() => undefined, () => undefined));
  const onAbort = () => void release();
  spec.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await container.start();
  } catch (err) {
    spec.signal?.removeEventListener('abort', onAbort);
    await release();
    throw err;
  }
  return {
    exec: (e) => execIn(container, e, spec.signal),
    async release() {
      spec.signal?.removeEventListener('abort', onAbort);
      await release();
    },
  };
}

/** One command in a running container, to its end: its output, or ContainerError for a non-zero exit. */
export async function execIn(container: Pick<EngineContainer, 'exec' | 'modem'>, e: ExecSpec, signal?: AbortSignal): Promise<{ output: string }> {
  if (signal?.aborted) throw new Error('aborted', { cause: signal.reason });
  const exec = await container.exec({ Cmd: e.cmd, Env: Object.entries(e.env ?? {}).map(([k, v]) => `${k}=${v}`), AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const out = lineSink(e.onLine);
  container.modem.demuxStream(stream, out.sink, out.sink);
  await new Promise<void>((resolve, reject) => {
    stream.on('end', () => resolve());
    stream.on('close', () => resolve());
    stream.on('error', reject);
  });
  if (signal?.aborted) throw new Error('aborted', { cause: signal.reason });
  // The output can end a moment before the engine records the exit: ask again until it has.
  let info = await exec.inspect();
  for (let i = 0; info.Running && i < 100; i++) {
    await new Promise((r) => setTimeout(r, 20));
    info = await exec.inspect();
  }
  const ExitCode = info.Running ? null : info.ExitCode;
  if (ExitCode !== 0) {
    throw new ContainerError(`container exec ${e.what ?? e.cmd.join(' ')} exited with ${ExitCode}${ExitCode === 137 ? ' (killed)' : ''}`, ExitCode ?? -1, out.text().split('\n').slice(-25).join('\n'));
  }
  return { output: out.text() };
}

/**
 * Copy what a container left in a bound host directory into `to`: regular files of the top level
 * only, opened without following links (the container could still be changing the directory).
 */
export async function takeRegularFiles(from: string, to: string): Promise<string[]> {
  const taken: string[] = [];
  for (const name of await fs.readdir(from)) {
    const fh = await fs.open(path.join(from, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined);
    if (!fh) continue; // a symlink (ELOOP) or gone: never followed (O_NONBLOCK: a FIFO never blocks the open)
    try {
      if (!(await fh.stat()).isFile()) continue;
      await fs.writeFile(path.join(to, name), await fh.readFile());
      taken.push(name);
    } finally {
      await fh.close();
    }
  }
  return taken;
}
