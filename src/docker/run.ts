import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { type Engine, ownerLabels } from './engine.ts';
import { ContainerError } from './errors.ts';

export interface RunSpec {
  image: string;
  cmd: string[];
  env?: Record<string, string>;
  /** host path -> container path[:ro] */
  binds?: string[];
  /** container path -> mount options (exec is needed for kbuild's host programs) */
  tmpfs?: Record<string, string>;
  labels?: Record<string, string>;
  /** Container directory to copy out (through getArchive) into `outDir` after a successful run. */
  collect?: { from: string; to: string };
  signal?: AbortSignal;
  /** 'none' for a step that must not reach anything (signing); default bridge. */
  network?: 'bridge' | 'none';
  /** Each complete output line (stdout and stderr), e.g. for stage markers. */
  onLine?: (line: string) => void;
}

export interface RunResult {
  output: string;
  files: string[];
}

/**
 * One container, start to finish: create (labelled), start, stream output, wait, copy results out,
 * and remove it whatever happened (success, failure, abort). Non-zero exit throws ContainerError.
 */
export async function runContainer(docker: Engine, spec: RunSpec): Promise<RunResult> {
  if (spec.signal?.aborted) throw new Error('aborted before start', { cause: spec.signal.reason });
  const container = await docker.createContainer({
    Image: spec.image,
    Cmd: spec.cmd,
    Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
    Labels: { ...ownerLabels(), ...spec.labels },
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: { Binds: spec.binds, Tmpfs: spec.tmpfs, NetworkMode: spec.network ?? 'bridge' },
  });
  const onAbort = () => void container.kill().catch(() => undefined);
  spec.signal?.addEventListener('abort', onAbort, { once: true });
  const out = lineSink(spec.onLine);
  try {
    const stream = await container.attach({ stream: true, stdout: true, stderr: true });
    container.modem.demuxStream(stream, out.sink, out.sink);
    const ended = new Promise<void>((r) => stream.on('end', () => r()));
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    await Promise.race([ended, new Promise((r) => setTimeout(r, 500))]);
    if (spec.signal?.aborted) throw new Error('aborted', { cause: spec.signal.reason });
    if (StatusCode !== 0) {
      const why = StatusCode === 137 ? ' (killed)' : '';
      throw new ContainerError(`container ${spec.cmd.join(' ')} exited with ${StatusCode}${why}`, StatusCode, out.text().split('\n').slice(-25).join('\n'));
    }
    const files = spec.collect ? await copyOut(docker, container.id, spec.collect.from, spec.collect.to) : [];
    return { output: out.text(), files };
  } finally {
    spec.signal?.removeEventListener('abort', onAbort);
    await container.remove({ force: true }).catch(() => undefined);
  }
}

/** A demux target that keeps the last ~1 MB of output and hands each complete line to `onLine`. */
export function lineSink(onLine?: (line: string) => void): { sink: PassThrough; text: () => string } {
  const sink = new PassThrough();
  let output = '';
  let partial = '';
  sink.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output += text;
    if (output.length > 1_000_000) output = output.slice(-500_000);
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) onLine?.(l);
  });
  return { sink, text: () => output };
}

/** getArchive + tar-stream: regular files only, no path may leave `to`. */
async function copyOut(docker: Engine, id: string, from: string, to: string): Promise<string[]> {
  const archive = await docker.getContainer(id).getArchive({ path: from });
  const { default: tar } = await import('tar-stream');
  const extract = tar.extract();
  const files: string[] = [];
  const root = path.resolve(to);
  await fs.mkdir(root, { recursive: true });
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, body, next) => {
      // Entries are prefixed with the basename of `from`; strip it.
      const rel = header.name.split('/').slice(1).join('/');
      const dest = path.resolve(root, rel);
      if (rel && header.type === 'file') {
        if (!dest.startsWith(root + path.sep)) {
          // the extract fails with the error below; the entry's body fails with it and must not throw unheard
          body.on('error', () => undefined);
          body.resume();
          return next(new Error(`refusing archive entry outside the output directory: ${header.name}`));
        }
        const chunks: Buffer[] = [];
        body.on('data', (c: unknown) => chunks.push(c as Buffer));
        body.on('end', () => {
          fs.mkdir(path.dirname(dest), { recursive: true })
            .then(() => fs.writeFile(dest, Buffer.concat(chunks)))
            .then(() => {
              files.push(rel);
              next();
            }, next);
        });
        body.on('error', next);
      } else {
        body.on('end', () => next());
        body.resume();
      }
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  (archive as NodeJS.ReadableStream).pipe(extract);
  await done;
  return files;
}
