import http from 'node:http';
import os from 'node:os';
import type Docker from 'dockerode';
import { processAlive } from '../util/file-lock.ts';
import { EngineUnreachableError } from './errors.ts';

/**
 * The narrow slice of dockerode nbdforge uses (every call in src/docker/): the real client satisfies
 * it, and a unit test can hand a fake of exactly these methods (test/unit/build-one-engine.test.ts).
 */
export interface Engine {
  readonly modem: EngineModem;
  ping(): Promise<unknown>;
  listContainers(opts: { all: boolean; filters: { label: string[] } }): Promise<Array<{ Id: string; Names: string[]; Labels: Record<string, string>; State: string }>>;
  getContainer(id: string): Pick<EngineContainer, 'id' | 'modem' | 'remove' | 'getArchive' | 'exec' | 'inspect'>;
  getImage(name: string): { inspect(): Promise<{ Id: string }> };
  buildImage(context: NodeJS.ReadableStream, opts: { t: string; buildargs: Record<string, string>; labels: Record<string, string>; rm: boolean; forcerm: boolean }): Promise<NodeJS.ReadableStream>;
  createContainer(opts: {
    /** A fixed name: a second create under it fails with status 409 (the shared builder's one-per-key). */
    name?: string;
    Image: string;
    Cmd: string[];
    Env?: string[];
    Labels: Record<string, string>;
    AttachStdout?: boolean;
    AttachStderr?: boolean;
    HostConfig: { Binds?: string[]; Tmpfs?: Record<string, string>; NetworkMode: string; AutoRemove?: boolean };
  }): Promise<EngineContainer>;
}

export interface EngineModem {
  demuxStream(stream: NodeJS.ReadableStream, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): void;
  followProgress(stream: NodeJS.ReadableStream, onFinished: (err: Error | null, res: Array<{ error?: string }>) => void, onProgress: (ev: { stream?: string }) => void): void;
}

export interface EngineContainer {
  readonly id: string;
  readonly modem: EngineModem;
  attach(opts: { stream: boolean; stdout: boolean; stderr: boolean }): Promise<NodeJS.ReadableStream>;
  start(): Promise<unknown>;
  wait(): Promise<unknown>;
  kill(): Promise<unknown>;
  remove(opts: { force: boolean }): Promise<unknown>;
  getArchive(opts: { path: string }): Promise<NodeJS.ReadableStream>;
  exec(opts: { Cmd: string[]; Env: string[]; AttachStdout: boolean; AttachStderr: boolean }): Promise<EngineExec>;
  inspect(): Promise<ContainerInfo>;
}

/** The part of a container's inspection nbdforge reads (a shared builder is checked against it before reuse). */
export interface ContainerInfo {
  Id: string;
  Image: string;
  State: { Running: boolean; Status: string };
  Config: { Labels: Record<string, string> | null };
  HostConfig: { Binds?: string[] | null; Tmpfs?: Record<string, string> | null; NetworkMode?: string };
}

export interface EngineExec {
  start(opts: { hijack: boolean; stdin: boolean }): Promise<NodeJS.ReadableStream>;
  inspect(): Promise<{ Running: boolean; ExitCode: number | null }>;
}

export const LABEL = 'nbdforge';

/** Connect and ping, so an engine that is not running is reported once, with what to do. */
export async function connectEngine(env: NodeJS.ProcessEnv): Promise<Engine> {
  // Its own keep-alive agent, so closeEngine can close the connections it kept (with the shared
  // global agent, an idle socket would hold the process open for seconds after the work).
  // (A tcp:// engine keeps dockerode's own agents: TLS needs an https one.)
  const unix = !env.DOCKER_HOST || env.DOCKER_HOST.startsWith('unix://');
  const agent = unix ? new http.Agent({ keepAlive: true }) : undefined;
  // docker-modem takes `agent` although @types/dockerode does not list it
  const opts = env.DOCKER_HOST ? (agent ? { agent } : undefined) : { socketPath: '/var/run/docker.sock', agent };
  // dockerode (with ssh2 and protobufjs) loads here, when an engine is needed, not at start-up
  const { default: DockerClient } = await import('dockerode');
  const docker = new DockerClient(opts as Docker.DockerOptions | undefined);
  try {
    await docker.ping();
  } catch (err) {
    agent?.destroy();
    const where = env.DOCKER_HOST ? `${env.DOCKER_HOST} (DOCKER_HOST)` : '/var/run/docker.sock (the default; DOCKER_HOST unset)';
    throw new EngineUnreachableError(
      `Docker engine unreachable at ${where}: ${(err as Error).message}. ` +
        'Start it with `npm run setup` (installs docker.io and starts dockerd when needed) or `sudo dockerd &`, ' +
        'or point DOCKER_HOST at a running engine (unix:///path/to/docker.sock or tcp://HOST:2376).',
      { cause: err },
    );
  }
  const engine: Engine = docker; // the real client satisfies the slice as it is, no cast
  return engine;
}

/** Close the engine's kept-alive connections: the end of the command that connected. */
export function closeEngine(docker: Engine): void {
  (docker.modem as unknown as { agent?: http.Agent }).agent?.destroy();
}

/** Labels every nbdforge container carries: who made it, so a cleanup can tell a crash from a live run. */
export function ownerLabels(): Record<string, string> {
  return { [LABEL]: '1', [`${LABEL}.pid`]: String(process.pid), [`${LABEL}.host`]: os.hostname() };
}

export interface Leftover {
  id: string;
  name: string;
  role: string;
  state: string;
  pid?: number;
}

/**
 * Containers nbdforge made whose owning process is gone (a kill -9, a crash, a reboot), and builders kept
 * between processes (label nbdforge.shared: no owner, they end themselves) that are no longer running;
 * with `builders`, the running ones too; with `all`, every nbdforge container, including those of runs
 * still going. Removes them and says which.
 */
export async function removeLeftoverContainers(docker: Engine, opts: { all?: boolean; builders?: boolean } = {}): Promise<Leftover[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [LABEL] } });
  const gone: Leftover[] = [];
  for (const c of list) {
    const pid = Number(c.Labels[`${LABEL}.pid`]);
    const ours = c.Labels[`${LABEL}.host`] === os.hostname() && Number.isInteger(pid) && pid > 0;
    const shared = c.Labels[`${LABEL}.shared`] !== undefined;
    if (!opts.all && shared && !opts.builders && c.State === 'running') continue;
    if (!opts.all && !shared && ours && processAlive(pid)) continue;
    await docker.getContainer(c.Id).remove({ force: true }).catch((err: unknown) => {
      // a shared builder may end (and remove itself) while asked to
      const status = (err as { statusCode?: number }).statusCode;
      if (status !== 404 && status !== 409) throw err;
    });
    gone.push({ id: c.Id.slice(0, 12), name: (c.Names[0] ?? '').replace(/^\//, ''), role: c.Labels[`${LABEL}.role`] ?? '', state: c.State, pid: ours ? pid : undefined });
  }
  return gone;
}
